"""Time the day-21 capstone end to end, warm: both runs of its end-to-end tests (a first deploy,
then a regression rolled back) and the whole run including the stack's start-up.

    .venv/bin/python scripts/bench/bench_day21.py [--impl solutions]

Prints the figures; asserts nothing (the target is at most 3 minutes warm on a 2-core machine).
Needs the docker, prometheus and mlflow tiers.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder with the day's files (default: solutions)")
    args = parser.parse_args()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "katas/day21/test_end_to_end.py", "--impl", args.impl,
                           "-q", "-p", "no:cacheprovider", "--durations=0", "--durations-min=0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    total = time.monotonic() - started
    print(f"day 21 end to end ({args.impl}): exit {done.returncode}, {total:.1f} s in all")
    for line in done.stdout.splitlines():
        if re.match(r"\s*\d+\.\d+s (call|setup|teardown)", line):
            print("  " + line.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
