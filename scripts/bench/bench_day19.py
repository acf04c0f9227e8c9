"""Time of day 19's gate: run_gate and promote on the day's five models, in a fresh store.

Speed is measured here, never asserted in the tests. Usage:

    python scripts/bench/bench_day19.py                  # the reference answers
    python scripts/bench/bench_day19.py --impl katas     # your own code
    python scripts/bench/bench_day19.py --impl PATH      # any folder with the day's files

The models are the day's test fixtures (katas/day19/conftest.py), trained and logged once
per machine and cached; the first run pays for that and says so.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mlops_katas.curriculum import find_root, load_day
from mlops_katas.impl import resolve_impl_dir


def load_fixtures(root: Path):
    spec = importlib.util.spec_from_file_location("day19_fixtures", root / "katas" / "day19" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="folder holding day19/ or the day folder itself")
    parser.add_argument("--repeats", type=int, default=5, help="gates timed per candidate")
    args = parser.parse_args()

    root = find_root()
    impl = Path(args.impl)
    if not impl.exists():
        impl = root / impl
    folder = resolve_impl_dir(load_day(root, "day19"), impl)
    sys.path.insert(0, str(folder))
    started = time.perf_counter()
    gate = importlib.import_module("gate")
    import mlflow  # noqa: F401 - counted in the import time below

    print(f"implementation: {gate.__file__}")
    print(f"import gate + mlflow: {time.perf_counter() - started:.2f} s")

    fixtures = load_fixtures(root)
    from mlops_katas.infra.mlflow_env import cached_template, isolated, new_store

    with tempfile.TemporaryDirectory() as scratch:
        store = new_store(Path(scratch) / "store", cached_template())
        started = time.perf_counter()
        uris = fixtures._cached_store(store)
        print(f"models ready (trained on the first run, then cached): {time.perf_counter() - started:.2f} s")
        import numpy as np

        rng = np.random.default_rng(fixtures.SEED)
        fixtures.make_rows(3000, rng)
        X, y = fixtures.make_rows(1200, rng)
        trained = fixtures.Trained(store.tracking_uri, store, uris, X, y)
        with isolated(store), fixtures.one_thread():
            name = f"bench-{uuid.uuid4().hex[:8]}"
            trained.register_champion(name)
            for which in ("better", "slice_regressor", "incompatible"):
                times = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    report = gate.run_gate(store.tracking_uri, name, uris[which], X, y, slice_by="region")
                    times.append(time.perf_counter() - started)
                print(f"run_gate({which}): median {statistics.median(times):.2f} s, max {max(times):.2f} s "
                      f"over {len(times)}; passed={report.passed}, "
                      f"latency {report.check('latency').value if report.check('latency').value is not None else '-'} ms")
            report = gate.run_gate(store.tracking_uri, name, uris["better"], X, y, slice_by="region",
                                   max_latency_ms=10_000.0)
            started = time.perf_counter()
            version = gate.promote(store.tracking_uri, name, report)
            print(f"promote -> version {version}: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
