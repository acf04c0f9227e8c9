"""How much a day's unit tier costs beyond starting pytest: reported, never asserted.

For each day the floor is `pytest katas/dayNN --collect-only` on the reference answers, with
every library the unit tier imports imported too (some, like Hypothesis' engine or NumPy
behind a fixture, are first imported while the tests run): the interpreter, pytest, the
harness, the day's libraries and modules, nothing run. The unit tier is the same command
running every test that needs no infrastructure. The ratio says how much of a learner's wait
is the tests' own work (target: <= 2x the floor). Each figure is the best of several
interleaved runs, so a busy machine inflates both sides alike rather than one.

    python scripts/bench/bench_unit_tiers.py              # days 16 and 20
    python scripts/bench/bench_unit_tiers.py day15 day16  # any days
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlops_katas.tiers import TIERS  # noqa: E402

UNIT_ONLY = " and ".join(f"not {tier}" for tier in TIERS)
TIMEOUT_S = 300
# A pytest plugin: with `--collect-only`, imports the libraries named in KATAS_BENCH_IMPORT;
# otherwise writes to KATAS_BENCH_FOUND the top-level modules outside this checkout that were
# first imported while the tests ran.
PLUGIN = """
import json, os, sys

def pytest_collection_finish(session):
    for name in filter(None, os.environ.get("KATAS_BENCH_IMPORT", "").split(",")):
        __import__(name)
    session.config._bench_before = set(sys.modules)

def pytest_sessionfinish(session):
    if "KATAS_BENCH_FOUND" in os.environ:
        root = os.environ["KATAS_BENCH_ROOT"]
        new = {name.split(".")[0] for name in set(sys.modules) - session.config._bench_before}
        libraries = sorted(n for n in new if not (getattr(sys.modules.get(n), "__file__", None) or root).startswith(root))
        with open(os.environ["KATAS_BENCH_FOUND"], "w") as out:
            json.dump(libraries, out)
"""


def seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *argv, "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 5):
        raise SystemExit(f"pytest {' '.join(argv)} failed:\n{done.stdout[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", nargs="*", default=["day16", "day20"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "katas_bench_imports.py").write_text(PLUGIN)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [scratch, os.environ.get("PYTHONPATH")])),
               "KATAS_BENCH_ROOT": str(ROOT)}
        for day in args.days:
            base = [f"katas/{day}", "--impl", "solutions", "-m", UNIT_ONLY, "-p", "katas_bench_imports"]
            found = Path(scratch, f"{day}.json")
            seconds(base, {**env, "KATAS_BENCH_FOUND": str(found)})
            libraries = json.loads(found.read_text())
            floor_env = {**env, "KATAS_BENCH_IMPORT": ",".join(libraries)}
            floor, unit = [], []
            for _ in range(args.runs):
                floor.append(seconds([*base, "--collect-only"], floor_env))
                unit.append(seconds(base, env))
            print(f"{day}: unit tier {min(unit):.2f} s, floor {min(floor):.2f} s (pytest --collect-only, "
                  f"and importing {', '.join(libraries) or 'nothing more'}), ratio {min(unit) / min(floor):.2f}x "
                  f"(best of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
