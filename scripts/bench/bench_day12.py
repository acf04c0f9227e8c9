"""Latency of day 12's recommend(): p50 and p99 on a 1,000 × 10,000 interaction matrix.

Speed is measured here, never asserted in the tests: a laptop under load must not turn
a correct answer red. Usage:

    python scripts/bench/bench_day12.py                  # the reference answers
    python scripts/bench/bench_day12.py --impl katas     # your own code
    python scripts/bench/bench_day12.py --impl PATH      # any folder with the day's files

`--impl` follows the same rule as `pytest --impl`: a folder holding `day12/`, or the
day's folder itself.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

from mlops_katas.curriculum import find_root, load_day
from mlops_katas.impl import resolve_impl_dir


def synthetic_interactions(n_users: int, n_items: int, seed: int) -> sparse.csr_array:
    """Long-tailed popularity (a few items everyone sees, most seen by almost no one), 5–60 items a user."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    weights /= weights.sum()
    item_ids = rng.permutation(n_items)
    rows, cols = [], []
    for user in range(n_users):
        items = item_ids[rng.choice(n_items, size=rng.integers(5, 61), replace=False, p=weights)]
        rows.extend([user] * len(items))
        cols.extend(items.tolist())
    values = rng.integers(1, 4, size=len(rows)).astype(np.float64)
    return sparse.csr_array(sparse.coo_array((values, (rows, cols)), shape=(n_users, n_items)))


def percentile(samples_ms: list[float], q: float) -> float:
    return float(np.percentile(samples_ms, q))


def measure(recommender, matrix: sparse.csr_array, args: argparse.Namespace) -> list[float]:
    """Fit once, then time each recommend() call on its own; returns milliseconds per call."""
    started = time.perf_counter()
    model = recommender.ItemItemRecommender().fit(matrix)
    print(f"fit: {(time.perf_counter() - started) * 1000:.0f} ms")
    rng = np.random.default_rng(args.seed + 1)
    # One request in ten is a cold start (an id past the last user), as in real traffic.
    users = np.where(rng.random(args.requests) < 0.1, args.users + 1, rng.integers(0, args.users, args.requests))
    model.recommend(int(users[0]), args.k)  # warm-up: first-call costs are not per-request latency
    samples_ms = []
    for user in users.tolist():
        started = time.perf_counter()
        model.recommend(user, args.k)
        samples_ms.append((time.perf_counter() - started) * 1000)
    return samples_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder holding day12/ or the day folder itself")
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)

    root = find_root()
    impl = Path(args.impl)
    if not impl.exists():  # `solutions` or `katas` from anywhere inside the checkout
        impl = root / impl
    folder = resolve_impl_dir(load_day(root, "day12"), impl)
    sys.path.insert(0, str(folder))
    recommender = importlib.import_module("recommender")
    print(f"implementation: {recommender.__file__}")

    matrix = synthetic_interactions(args.users, args.items, args.seed)
    print(f"data: {args.users} users x {args.items} items, {matrix.nnz} interactions")
    try:
        samples_ms = measure(recommender, matrix, args)
    except NotImplementedError as unfinished:
        print(f"day12 is not finished yet ({unfinished}); run `pytest katas/day12` first")
        return 1
    print(
        f"recommend(k={args.k}) over {args.requests} requests: "
        f"p50 {percentile(samples_ms, 50):.3f} ms, p99 {percentile(samples_ms, 99):.3f} ms, "
        f"max {max(samples_ms):.3f} ms, mean {statistics.fmean(samples_ms):.3f} ms"
    )
    print(f"one worker at this mean latency serves about {1000 / statistics.fmean(samples_ms):.0f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
