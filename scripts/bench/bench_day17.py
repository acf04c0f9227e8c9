"""Throughput and latency of day 17's server with and without micro-batching.

The model stands for one whose per-call cost dominates (a GPU network, a remote feature
lookup): each call holds one shared device for 5 ms plus 10 µs a row, so calls never run
side by side. Requests go through your `create_app` in process (Flask's test client, one
thread per client), so HTTP parsing costs are the same in both runs and the difference
is the batching. "Without batching" is MAX_BATCH_SIZE=1; "with" is MAX_BATCH_SIZE=64 and
MAX_WAIT_MS=2. The cache is off and every row is different. Speed is reported here, never
asserted in the tests. Usage:

    python scripts/bench/bench_day17.py                  # the reference answers
    python scripts/bench/bench_day17.py --impl katas     # your own code
    python scripts/bench/bench_day17.py --impl PATH      # any folder with the day's files
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mlops_katas.curriculum import find_root, load_day
from mlops_katas.impl import resolve_impl_dir


class SlowDeviceModel:
    """A model whose call costs `call_ms` plus `row_us` per row on one shared device."""

    def __init__(self, call_ms: float, row_us: float) -> None:
        self.call_s, self.row_s = call_ms / 1000, row_us / 1e6
        self.device = threading.Lock()
        self.calls = 0

    def predict(self, X):
        with self.device:
            self.calls += 1
            time.sleep(self.call_s + self.row_s * len(X))
        return np.asarray(X).sum(axis=1).round(6)


def run(serving, settings: dict, clients: int, per_client: int, args) -> dict:
    model = SlowDeviceModel(args.call_ms, args.row_us)
    app = serving.create_app({"CACHE_SIZE": 0, "MAX_QUEUE": 100_000, **settings}, model=model)
    latencies: list[float] = []
    lock = threading.Lock()

    def client(who: int) -> None:
        http = app.test_client()
        mine = []
        for i in range(per_client):
            body = {"features": [[who, i, 0.5, 1.0]]}
            started = time.perf_counter()
            answer = http.post("/predict", json=body)
            mine.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"/predict answered {answer.status_code}: {answer.get_data(as_text=True)[:200]}")
        with lock:
            latencies.extend(mine)

    try:
        app.test_client().post("/predict", json={"features": [[0, 0, 0, 0]]})  # warm-up
        model.calls = 0
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(client, range(clients)))
        elapsed = time.perf_counter() - started
    finally:
        app.extensions["batcher"].close()
    n = clients * per_client
    return {"rps": n / elapsed, "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)), "rows_per_call": n / max(1, model.calls)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder holding day17/ or the day folder itself")
    parser.add_argument("--clients", default="1,8,64", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=640, help="requests per level (at least 20 per client)")
    parser.add_argument("--call-ms", type=float, default=5.0)
    parser.add_argument("--row-us", type=float, default=10.0)
    args = parser.parse_args(argv)

    root = find_root()
    impl = Path(args.impl)
    if not impl.exists():
        impl = root / impl
    folder = resolve_impl_dir(load_day(root, "day17"), impl)
    sys.path.insert(0, str(folder))
    serving = importlib.import_module("serving")
    print(f"implementation: {serving.__file__}")
    print(f"model: {args.call_ms:g} ms a call + {args.row_us:g} µs a row, one call at a time")
    modes = {"no batching": {"MAX_BATCH_SIZE": 1, "MAX_WAIT_MS": 0},
             "batching": {"MAX_BATCH_SIZE": 64, "MAX_WAIT_MS": 2}}
    results = {}
    print(f"{'clients':>7}  {'mode':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'rows/call':>9}")
    for clients in (int(c) for c in args.clients.split(",")):
        per_client = max(20, args.requests // clients) if clients > 1 else min(args.requests, 200)
        for mode, settings in modes.items():
            try:
                r = run(serving, settings, clients, per_client, args)
            except NotImplementedError as unfinished:
                print(f"day17 is not finished yet ({unfinished}); run `pytest katas/day17` first")
                return 1
            results[clients, mode] = r
            print(f"{clients:>7}  {mode:<12} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                  f"{r['rows_per_call']:>9.1f}")
    for clients in sorted({c for c, _ in results}):
        speedup = results[clients, "batching"]["rps"] / results[clients, "no batching"]["rps"]
        print(f"throughput with batching at {clients} clients: x{speedup:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
