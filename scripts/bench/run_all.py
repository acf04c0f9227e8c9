"""Speed figures for the harness and the days, reported and never asserted.

- wall time of `pytest katas/day15 --impl solutions` (median of several runs)
- wall time of `katas list`
- the reference LRU against cachetools.LRUCache on 10^5 mixed get/put operations
- every other `scripts/bench/bench_*.py`: each day's own benchmark on the reference answers, the unit
  tiers against their import floor, `katas watch` against a plain pytest run
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5
TIMEOUT_S = 300
DAY_BENCH_TIMEOUT_S = 900


def wall(command: list[str], runs: int = RUNS) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, timeout=TIMEOUT_S, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def lru_operations(n: int = 100_000, keys: int = 5_000, seed: int = 7) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [("get" if rng.random() < 0.7 else "put", rng.randrange(keys)) for _ in range(n)]


def time_cache(factory, put, ops, repeats: int = 7) -> float:
    """Best of `repeats` runs of the whole operation list on a fresh cache of 1,000 entries."""
    best = float("inf")
    for _ in range(repeats):
        cache = factory(1_000)
        start = time.perf_counter()
        for op, key in ops:
            if op == "get":
                cache.get(key)
            else:
                put(cache, key, key)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    python = sys.executable
    median, runs = wall([python, "-m", "pytest", "katas/day15", "--impl", "solutions", "-q", "-p", "no:cacheprovider"])
    print(f"pytest katas/day15 --impl solutions: median {median:.2f} s over {RUNS} runs {[round(t, 2) for t in runs]}")
    median, runs = wall([python, "-m", "mlops_katas.cli", "list"])
    print(f"katas list: median {median:.2f} s over {RUNS} runs {[round(t, 2) for t in runs]}")

    import cachetools

    sys.path.insert(0, str(ROOT / "solutions" / "day15"))
    from lru_cache import LRUCache

    ops = lru_operations()
    ours = time_cache(LRUCache, LRUCache.put, ops)
    theirs = time_cache(cachetools.LRUCache, cachetools.LRUCache.__setitem__, ops)
    print(f"LRU, 10^5 mixed get/put (70% get, 5,000 keys, capacity 1,000): reference {ours * 1000:.1f} ms, "
          f"cachetools {theirs * 1000:.1f} ms, ratio {ours / theirs:.2f}x")
    failed = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n== {script.name}", flush=True)
        done = subprocess.run([python, str(script)], cwd=ROOT, timeout=DAY_BENCH_TIMEOUT_S, check=False)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
