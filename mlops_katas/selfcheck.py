"""Proof that every day's tests mean something.

For each day: every test fails against the stubs, every test passes against the
reference answers, every mutant (a known-wrong answer) fails at least one test, and
the README's tasks and hints agree with the tests' task markers. `tests/test_selfcheck.py`
turns each of these into a test of its own, so `tox -e selfcheck` names what broke.
"""

from __future__ import annotations

import ast
import atexit
import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import alternatives, forkrun
from . import mutants as mutants_mod
from .curriculum import Day
from .infra import mlflow_server
from .infra.mlflow_env import template_path
from .learner import STUB_MARK

RUN_TIMEOUT_S = 1500
HINT_LEVELS = 3
MIN_MUTANTS_PER_FILE = 3
# A tier this machine lacks (kind here; docker on a laptop without an engine) skips on
# stubs and solutions alike: such tests are reported as unproven, never as passing.
# CI passes --require docker, so there the docker tier cannot be skipped.
TIER_SKIP = " tier skipped:"
# Installed pytest plugins no kata uses (the harness drives kind itself, see infra/kind.py):
# not loading them saves half a second in each of the self-check's hundreds of runs.
UNUSED_PLUGINS = ("-p", "no:pytest-kind", "-p", "no:anyio", "-p", "no:xdist", "-p", "no:xdist.looponfail")
# A test marked `end_to_end` brings up a whole stack and takes minutes: it runs against the
# solutions and the stubs, while alternatives and mutants are judged by the day's other tests
# (every mutant must be killed by a fast test).
FAST_ONLY = ("-m", "not end_to_end")


@dataclass
class DayRun:
    returncode: int
    output: str
    results: dict

    def tests(self, status: str) -> list[dict]:
        return [t for t in self.results.get("tests", []) if t["status"] == status]


def run_day(root: Path, day: Day, impl: Path, *extra: str, only: str | tuple[str, ...] = ()) -> DayRun:
    """Run one day's unchanged tests (or only the test ids `only`, in that order) against `impl`
    in a pytest of its own (a fork of a preloaded interpreter, see `_run_pytest`)."""
    targets = [str(day.path / test_id) for test_id in ((only,) if isinstance(only, str) else only)]
    with tempfile.TemporaryDirectory(prefix="katas-selfcheck-") as results_dir:
        argv = [
            *(targets or [str(day.path)]), "--impl", str(impl),
            "--results-dir", results_dir, "-q", "-p", "no:cacheprovider", *UNUSED_PLUGINS, *extra,
        ]
        if impl.resolve() != day.path.resolve() and _uses_mlflow_server(day.path):  # stubs never get to it
            argv += ["--mlflow-server-dir", str(_shared_mlflow_server().dir)]
        env = {**os.environ, "CI": os.environ.get("CI", "1")}
        env.pop("KATAS_IMPL", None)
        env.pop("PYTEST_CURRENT_TEST", None)  # changes with every test around us; the run sets its own
        returncode, output = _run_pytest(argv, root, env, Path(results_dir) / "output.txt")
        if returncode == -1:
            output += f"\n(stopped after {RUN_TIMEOUT_S} s)"
        path = Path(results_dir) / f"{day.name}.json"
        results = json.loads(path.read_text()) if path.is_file() else {}
    return DayRun(returncode, output, results)


_mlflow: mlflow_server.MlflowServer | None = None


@functools.cache
def _uses_mlflow_server(day_folder: Path) -> bool:
    """Read once per day folder, not in each of the day's hundred runs."""
    return any("mlflow_server" in path.read_text(encoding="utf-8") for path in day_folder.glob("*.py"))


def _shared_mlflow_server() -> mlflow_server.MlflowServer:
    """One `mlflow server` for all of this process's day runs: starting one costs ten seconds of
    CPU, and a run's tests already share its server under names of their own."""
    global _mlflow
    if _mlflow is not None and _mlflow.proc is not None and _mlflow.proc.poll() is not None:
        _stop_mlflow()  # it died: the next run gets a new one
    if _mlflow is None:
        mlflow_server.reap()
        _mlflow = mlflow_server.MlflowServer(template=template_path())
        _mlflow.start()
    return _mlflow


def _stop_mlflow() -> None:
    global _mlflow
    if _mlflow is not None:
        _mlflow.remove()
        _mlflow = None


atexit.register(_stop_mlflow)


_zygote: forkrun.Zygote | None = None
_fork_failed = False  # a zygote that failed once is not tried again in this process


def _stop_zygote() -> None:
    global _zygote
    if _zygote is not None:
        _zygote.stop()
        _zygote = None


atexit.register(_stop_zygote)


def _run_pytest(argv: list[str], cwd: Path, env: dict[str, str], output: Path) -> tuple[int, str]:
    """`python -m pytest argv`: forked from this process's zygote when it can be (see
    `forkrun`), else in a fresh interpreter (KATAS_FORK=0, no fork on this system)."""
    global _zygote, _fork_failed
    if not _fork_failed and env.get("KATAS_FORK", "1") != "0" and hasattr(os, "fork"):
        try:
            if _zygote is None or _zygote.env != env or not _zygote.alive():
                _stop_zygote()
                _zygote = forkrun.Zygote(env)
                _zygote.start()
            done = _zygote.run(argv, cwd, output, RUN_TIMEOUT_S)
            return done.returncode, done.output
        except forkrun.ZygoteGone:
            _stop_zygote()
            _fork_failed = True
    command = [sys.executable, "-m", "pytest", *argv]
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return -1, stdout
    return done.returncode, done.stdout + done.stderr


def mutants(root: Path, day: Day) -> list[Path]:
    return mutants_mod.find(root / "tests" / "mutants" / day.name)


def overlay(root: Path, day: Day, mutant: Path, dest: Path) -> Path:
    """The day's solution (or the alternative the mutant names) with one mutant applied, in `dest`."""
    loaded = mutants_mod.load(mutant)
    if loaded.base is None:
        return mutants_mod.apply(loaded, root / "solutions" / day.name, dest)
    try:
        alternatives.assemble(root, day, loaded.base, dest)
    except FileNotFoundError as exc:
        raise mutants_mod.MutantError(f"{mutant.name}: based on {exc}") from None
    return mutants_mod.patch_in_place(loaded, dest)


def _is_unprovable(test: dict) -> bool:
    return test["status"] == "skip" and TIER_SKIP in (test.get("message") or "")


def unproven(run: DayRun) -> list[str]:
    """Tests a missing tier skipped, so this run proves nothing about them."""
    return [t["name"] for t in run.results.get("tests", []) if _is_unprovable(t)]


def stub_problems(run: DayRun) -> list[str]:
    if not run.results.get("tests"):
        return [f"no test results from the stub run:\n{run.output[-3000:]}"]
    problems = []
    for test in run.results["tests"]:
        message = test.get("message") or ""
        if test["status"] == "pass" and not test.get("passes_on_stub"):
            problems.append(f"{test['name']} passes against the stubs: it tests nothing the learner does")
        elif test["status"] == "skip" and not _is_unprovable(test):
            problems.append(f"{test['name']} was skipped against the stubs: {message}")
        elif "NotImplementedError" in message:
            problems.append(f"{test['name']} shows a bare NotImplementedError instead of the task line")
    return problems


def solution_problems(run: DayRun) -> list[str]:
    if not run.results.get("tests"):
        return [f"no test results from the solutions run:\n{run.output[-3000:]}"]
    return [
        f"{t['name']} {t['status']}s against the solutions: {_head_and_tail(t.get('message') or '')}"
        for t in run.results["tests"]
        if t["status"] != "pass" and not _is_unprovable(t)
    ]


def _head_and_tail(message: str, keep: int = 1500) -> str:
    """A long traceback's start says where, its end says what: keep both."""
    if len(message) <= 2 * keep:
        return message
    return f"{message[:keep // 3]}\n[... {len(message) - keep} characters ...]\n{message[-(keep - keep // 3):]}"


def run_mutant(root: Path, day: Day, impl: Path, mutant: mutants_mod.Mutant, *extra: str) -> DayRun:
    """Run the test that killed the mutant last time first; the whole day (to its first
    failure) only when that test no longer fails. The proof is the same: a failing test."""
    if mutant.killed_by:
        run = run_day(root, day, impl, "-x", *FAST_ONLY, *extra, only=mutant.killed_by)
        if run.tests("fail") or run.tests("error"):
            return run
    return run_day(root, day, impl, "-x", *FAST_ONLY, *extra)


def first_failure(run: DayRun) -> str | None:
    """The id of the first test that failed in a run (what `# Killed-by:` records)."""
    failed = run.tests("fail") + run.tests("error")
    return failed[0]["name"] if failed else None


def mutant_survived(run: DayRun) -> bool:
    """A mutant is killed when at least one test fails (errors count, skips do not)."""
    return run.returncode == 0 or not (run.tests("fail") or run.tests("error") or run.results.get("status") == "error")


def bare_asserts(day: Day) -> list[str]:
    """An assert with no message shows a learner only `AssertionError`: every one needs words."""
    found = []
    for test_file in sorted(day.path.glob("test_*.py")):
        tree = ast.parse(test_file.read_text(encoding="utf-8"))
        found += [f"{test_file.name} line {node.lineno}: assert without a message"
                  for node in ast.walk(tree) if isinstance(node, ast.Assert) and node.msg is None]
    return found


def consistency_problems(root: Path, day: Day, stub_run: DayRun | None = None) -> list[str]:
    problems = []
    tasks = day.tasks
    numbers = [t.number for t in tasks]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"README tasks are numbered {numbers}; expected 1..N without gaps")
    for task in tasks:
        if len(task.hints) != HINT_LEVELS:
            problems.append(f"task {task.number} has {len(task.hints)} hints; expected {HINT_LEVELS} (Hint {task.number}.1-3)")
    solution = root / "solutions" / day.name
    for name in day.files:
        stub = day.path / name
        if not stub.is_file():
            problems.append(f"kata.toml lists {name} but katas/{day.name}/{name} does not exist")
        elif "TODO" not in stub.read_text(encoding="utf-8") and not STUB_MARK.search(stub.read_text(encoding="utf-8")):
            problems.append(f"katas/{day.name}/{name} carries no TODO for the learner")
        if not (solution / name).is_file():
            problems.append(f"solutions/{day.name}/{name} is missing")
    problems += bare_asserts(day)
    problems += alternatives.problems(root, day)
    per_file: dict[str, int] = {name: 0 for name in day.files}
    for path in mutants(root, day):
        try:
            mutant = mutants_mod.load(path)
            with tempfile.TemporaryDirectory() as scratch:
                overlay(root, day, path, Path(scratch))
        except mutants_mod.MutantError as exc:
            problems.append(f"mutant {path.name}: {exc}")
            continue
        for name in mutant.files:
            if name not in per_file:
                problems.append(f"mutant {path.name} changes {name}, which is not a learner file of {day.name}")
            else:
                per_file[name] += 1
        if not mutant.bug.lower().startswith("mutant:"):
            problems.append(f"mutant {path.name}: its first line should name its bug ('# Mutant: ...')")
    for name, count in per_file.items():
        if count < MIN_MUTANTS_PER_FILE:
            problems.append(f"{name} has {count} mutants; at least {MIN_MUTANTS_PER_FILE} are needed")
    if stub_run is not None and stub_run.results.get("tests"):
        marked = {t.get("task_id") for t in stub_run.results["tests"]}
        if None in marked:
            unmarked = [t["name"] for t in stub_run.results["tests"] if t.get("task_id") is None]
            problems.append(f"tests without a task marker: {unmarked[:5]}")
        for number in set(numbers) - marked:
            problems.append(f"README task {number} has no test")
        for number in marked - set(numbers) - {None}:
            problems.append(f"tests are marked task {number}, which the README does not have")
    return problems
