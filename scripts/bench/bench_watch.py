"""How long `katas watch` takes from a save to the end of the re-run, against a plain
`pytest` run of the same day: reported, never asserted (target: <= 1.5x).

The watcher runs on the reference answers (`--impl solutions`, so no learner progress is
written); the "save" rewrites a file of the watched day folder with its own content, so
nothing in the checkout changes.

    python scripts/bench/bench_watch.py [dayNN] [--saves N]
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_DONE = re.compile(r"\b(passed|failed)\b.* in [0-9.]+s")
WATCHING = re.compile(r"^watching ")
TIMEOUT_S = 120


def plain_run(day: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", f"katas/{day}", "-q", "--no-header", "--impl", "solutions"],
                   cwd=ROOT, capture_output=True, timeout=TIMEOUT_S, check=False)
    return time.perf_counter() - start


def wait_for(lines: queue.Queue, pattern: re.Pattern) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        if line is None:
            raise SystemExit("katas watch exited")
        if pattern.search(line):
            return
    raise SystemExit(f"katas watch printed no line matching {pattern.pattern!r} within {TIMEOUT_S} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day", nargs="?", default="day15")
    parser.add_argument("--saves", type=int, default=5)
    args = parser.parse_args()
    saved = next(p for p in sorted((ROOT / "katas" / args.day).glob("*.py")) if not p.name.startswith("test_"))
    watcher = subprocess.Popen([sys.executable, "-m", "mlops_katas.cli", "watch", args.day, "--impl", "solutions"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in watcher.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_for(lines, RUN_DONE)  # the run watch starts with
        wait_for(lines, WATCHING)  # a save before this line would go unseen
        reruns, plains = [], []
        for _ in range(args.saves):
            time.sleep(1.0)  # let the watcher settle, as a learner reading the output would
            start = time.perf_counter()
            saved.write_bytes(saved.read_bytes())
            wait_for(lines, RUN_DONE)
            reruns.append(time.perf_counter() - start)
            plains.append(plain_run(args.day))
    finally:
        watcher.terminate()
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watcher.kill()
    rerun, plain = statistics.median(reruns), statistics.median(plains)
    print(f"katas watch {args.day}: save to end of re-run median {rerun:.2f} s, plain pytest median {plain:.2f} s, "
          f"ratio {rerun / plain:.2f}x over {args.saves} saves")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
