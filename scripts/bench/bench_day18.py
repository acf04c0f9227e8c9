"""Throughput of day 18's TrafficSplitter.route(): users routed per second on one core.

The issue's target is 500,000 users/s: a router in front of a model server calls route()
once per request, so it must cost a microsecond or two, not a model call. Speed is
measured here, never asserted in the tests. Usage:

    python scripts/bench/bench_day18.py                  # the reference answers
    python scripts/bench/bench_day18.py --impl katas     # your own code
    python scripts/bench/bench_day18.py --impl PATH      # any folder with the day's files

`--impl` follows the same rule as `pytest --impl`: a folder holding `day18/`, or the
day's folder itself.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

from mlops_katas.curriculum import find_root, load_day
from mlops_katas.impl import resolve_impl_dir

SPLITS = {
    "canary 95/5": {"stable": 95, "canary": 5},
    "A/B 50/50": {"control": 0.5, "treatment": 0.5},
    "four variants": {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1},
}


def users_per_second(splitter, users: list[str], rounds: int) -> list[float]:
    """Route every user once per round; one figure per round (the best is the least disturbed)."""
    route = splitter.route
    figures = []
    for _ in range(rounds):
        started = time.perf_counter()
        for user in users:
            route(user)
        figures.append(len(users) / (time.perf_counter() - started))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder holding day18/ or the day folder itself")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    root = find_root()
    impl = Path(args.impl)
    if not impl.exists():  # `solutions` or `katas` from anywhere inside the checkout
        impl = root / impl
    folder = resolve_impl_dir(load_day(root, "day18"), impl)
    sys.path.insert(0, str(folder))
    traffic = importlib.import_module("traffic")
    print(f"implementation: {traffic.__file__}")

    users = [f"user-{i:08d}" for i in range(args.users)]
    for label, weights in SPLITS.items():
        try:
            splitter = traffic.TrafficSplitter(weights, salt="bench")
            figures = users_per_second(splitter, users, args.rounds)
        except NotImplementedError as unfinished:
            print(f"day18 is not finished yet ({unfinished}); run `pytest katas/day18` first")
            return 1
        print(f"route() {label}: best {max(figures):,.0f} users/s, median {statistics.median(figures):,.0f} users/s "
              f"({args.users:,} users x {args.rounds} rounds, one thread)")
    print("target: >= 500,000 users/s on one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
