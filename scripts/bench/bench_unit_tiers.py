"""How much a day's unit tier costs beyond starting pytest: reported, never asserted.

For each day the floor is `pytest katas/dayNN --collect-only` on the reference answers: the
interpreter, pytest, the harness, the day's libraries and modules imported, nothing run. The
unit tier is the same command running every test that needs no infrastructure. The ratio says
how much of a learner's wait is the tests' own work (target: <= 2x the floor). Each figure is the
best of several interleaved runs, so a busy machine inflates both sides alike rather than one.

    python scripts/bench/bench_unit_tiers.py              # days 16 and 20
    python scripts/bench/bench_unit_tiers.py day15 day16  # any days
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlops_katas.tiers import TIERS  # noqa: E402

UNIT_ONLY = " and ".join(f"not {tier}" for tier in TIERS)
TIMEOUT_S = 300


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *argv, "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=None)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 5):
        raise SystemExit(f"pytest {' '.join(argv)} failed:\n{done.stdout[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", nargs="*", default=["day16", "day20"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for day in args.days:
        base = [f"katas/{day}", "--impl", "solutions", "-m", UNIT_ONLY]
        floor, unit = [], []
        for _ in range(args.runs):
            floor.append(seconds([*base, "--collect-only"]))
            unit.append(seconds(base))
        print(f"{day}: unit tier {min(unit):.2f} s, floor {min(floor):.2f} s "
              f"(pytest --collect-only), ratio {min(unit) / min(floor):.2f}x (best of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
