#!/usr/bin/env python3
"""Mechanical mutation testing of every learner file, through the day's own tests.

usage: scripts/mutation.py [dayNN ...] [--tiers unit,mlflow] [--file NAME]... [--tests TEST_FILE]... [--list]

For each day (all days when none is named) and each of its learner files, a copy of the
reference answer is mutated one operator at a time and `pytest katas/dayNN --impl <copy> -x`
runs on it. Python files are mutated by cosmic-ray (a comparison flipped, a number changed,
a condition negated, a loop skipped, an exception type replaced, ...); shell scripts,
Dockerfiles, YAML and ignore files by the hand-listed operators of
`mlops_katas.mutation_operators` (`set -e` or `pipefail` dropped, a comparison or `&&`
flipped, an option, command, instruction or YAML entry dropped, an expansion unquoted, a
number changed). A mutant no test kills is a clause the tests do not pin down: kill it
with a new test, or list it as equivalent (it cannot change behaviour the README asks for) with its reason in
`tests/mutation/dayNN-equivalent.toml`:

    [[equivalent]]
    file = "hpa.py"
    operator = "core/ReplaceComparisonOperator_Lt_LtE"
    line = "if current_replicas < 1:"      # the reference line, stripped
    reason = "..."

A setting the README leaves free may list several `operators` and `lines` under one reason.

Prints a score per file and day and every survivor that is not listed; exits 1 when any
is left. Docker and kind tiers are left out by default (minutes per mutant); mutants only
those tiers would kill then show up as survivors, which the report says. A file whose
checks sit in a slow tier beside quick ones is judged by the quick ones with `--tests`:
`--tiers unit,docker --tests test_stack_files.py` runs day 21's `docker-compose config`
checks on each mutant, not its end-to-end stack. Writes the
per-day figures to `.katas/mutation/dayNN.json`. Runs outside CI: a day takes minutes to
an hour on two cores.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlops_katas.project_python import use_project_python  # noqa: E402

use_project_python(ROOT)

from mlops_katas.curriculum import Day, all_days, load_day  # noqa: E402
from mlops_katas.mutation_operators import kind_of, mutants  # noqa: E402

# Operators whose mutants are nearly all noise for this code (bit shifts and bitwise ops on
# numbers, powers, inserting or swapping arbitrary variables): left out, as cosmic-ray's
# own operators filter allows, to keep a day's run in minutes.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(Pow|RShift|LShift|BitOr|BitAnd|BitXor)",
    r"core/ReplaceBinaryOperator_(Pow|RShift|LShift|BitOr|BitAnd|BitXor)_.*",
    r"core/VariableInserter",
    r"core/VariableReplacer",
]
EQUIVALENTS = ROOT / "tests" / "mutation"
REPORTS = ROOT / ".katas" / "mutation"


@dataclass(frozen=True)
class Survivor:
    file: str
    operator: str
    line_no: int
    line: str
    diff: str

    def key(self) -> tuple[str, str, str]:
        return (self.file, self.operator, self.line)


def equivalents(day: Day) -> dict[tuple[str, str, str], str]:
    path = EQUIVALENTS / f"{day.name}-equivalent.toml"
    if not path.is_file():
        return {}
    listed = tomllib.loads(path.read_text(encoding="utf-8")).get("equivalent", [])
    # An entry names one operator and line, or (for a setting the README leaves free, which
    # several operators change on several lines) lists them under `operators` and `lines`.
    return {(e["file"], operator, line.strip()): e["reason"] for e in listed
            for operator in e.get("operators", [e.get("operator")]) for line in e.get("lines", [e.get("line")])}


def fixtures_reading(conftest: str, named: re.Pattern) -> set[str] | None:
    """The conftest fixtures through which a test sees the mutated file: those whose code names
    it, and those that use such a fixture. None when the conftest's own code (outside its
    fixtures) names it: then any test may see it."""
    tree = ast.parse(conftest)
    fixtures = {node.name: ast.get_source_segment(conftest, node) or "" for node in tree.body
                if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)}
    if ast.get_docstring(tree) is not None:
        tree.body = tree.body[1:]  # what the module's docstring says is not code
    outside = "\n".join(ast.get_source_segment(conftest, node) or "" for node in tree.body
                        if not (isinstance(node, ast.FunctionDef) and node.name in fixtures))
    if named.search(outside):
        return None
    reading = {name for name, code in fixtures.items() if named.search(code)}
    while True:
        users = {name for name, code in fixtures.items() if name not in reading
                 and any(re.search(rf"\b{used}\b", code) for used in reading)}
        if not users:
            return reading
        reading |= users


def test_files(day: Day, name: str) -> list[str]:
    """The day's test files that import the mutated module or name the mutated file, or use a
    conftest fixture that does (all of them when the conftest's own code names it, or no test
    file does): the others cannot see the mutation, and skipping them shortens each run."""
    if name.endswith(".py"):
        module = Path(name).stem
        mentions = re.compile(rf"^\s*(from\s+{module}\s+import|import\s+{module}\b)", re.MULTILINE)
        named = re.compile(rf"\b{module}\b")
    else:
        mentions = named = re.compile(re.escape(Path(name).name))
    conftest = day.path / "conftest.py"
    everything = [str(day.path)]
    readers = [mentions]
    shared = conftest.read_text(encoding="utf-8") if conftest.is_file() else ""
    if named.search(shared):
        fixtures = fixtures_reading(shared, named)
        if fixtures is None:
            return everything
        readers += [re.compile(rf"\b{fixture}\b") for fixture in fixtures]
    sources = {p: p.read_text(encoding="utf-8") for p in sorted(day.path.glob("test_*.py"))}
    chosen = [str(p) for p, text in sources.items() if any(reader.search(text) for reader in readers)]
    return chosen or everything


def pytest_command(day: Day, name: str, impl: Path, tiers: list[str], only: list[str] | None = None) -> list[str]:
    skipped = [t for t in ("docker", "kind", "mlflow") if t not in tiers]
    files = [str(day.path / t) for t in only] if only else test_files(day, name)
    command = [sys.executable, "-m", "pytest", *files, "--impl", str(impl), "-x", "-q",
               "-p", "no:cacheprovider", "--no-header"]
    if skipped:
        command += ["-m", " and ".join(f"not {t}" for t in skipped)]
    return command


def run_file(day: Day, name: str, tiers: list[str], scratch: Path, only: list[str] | None = None) -> dict:
    """Mutate one learner file of a copy of the solution; return the counts and survivors."""
    impl = scratch / day.name
    shutil.copytree(ROOT / "solutions" / day.name, impl, ignore=shutil.ignore_patterns("__pycache__"))
    command = pytest_command(day, name, impl, tiers, only)
    env = {**os.environ, "CI": "1"}
    env.pop("KATAS_IMPL", None)
    started = time.monotonic()
    baseline = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    baseline_s = time.monotonic() - started
    if baseline.returncode != 0:
        raise SystemExit(f"{day.name}: the reference answer fails its own tests; fix that first:\n"
                         f"{baseline.stdout[-2000:]}")
    if not name.endswith(".py"):
        return run_text_file(name, impl, command, env, baseline_s)
    config = scratch / "cosmic-ray.toml"
    session = scratch / "session.sqlite"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(impl / name))}\n"
        f"timeout = {max(60.0, 4 * baseline_s):.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(shlex.join(command))}\n"
        "[cosmic-ray.distributor]\nname = \"local\"\n"
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n",
        encoding="utf-8",
    )
    bindir = Path(sys.executable).parent
    for args in ([bindir / "cosmic-ray", "init", config, session],
                 [bindir / "cr-filter-operators", session, config],  # its arguments come the other way round
                 [bindir / "cosmic-ray", "exec", config, session]):
        subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                       timeout=6 * 3600)
    dump = subprocess.run([str(bindir / "cosmic-ray"), "dump", str(session)], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True, timeout=600)
    source = (ROOT / "solutions" / day.name / name).read_text(encoding="utf-8").splitlines()
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0}
    survivors = []
    for raw in dump.stdout.splitlines():
        item, result = json.loads(raw)
        if result is None or result.get("worker_outcome") == "skipped":
            counts["skipped"] += 1
            continue
        outcome = result.get("test_outcome")
        counts[outcome if outcome in counts else "incompetent"] += 1
        if outcome == "survived":
            mutation = item["mutations"][0]
            line_no = mutation["start_pos"][0]
            survivors.append(Survivor(name, mutation["operator_name"], line_no,
                                      source[line_no - 1].strip(), result.get("diff") or ""))
    return {"counts": counts, "survivors": survivors, "baseline_s": round(baseline_s, 1)}


def run_text_file(name: str, impl: Path, command: list[str], env: dict, baseline_s: float) -> dict:
    """The hand-listed operators' mutants of a shell, Dockerfile, YAML or ignore file, one
    pytest run each; a run past the time limit counts as killed, as cosmic-ray counts it."""
    target = impl / name
    reference = target.read_text(encoding="utf-8")
    timeout = max(60.0, 4 * baseline_s)
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0}
    survivors = []
    try:
        for mutant in mutants(name, reference):
            target.write_text(mutant.text, encoding="utf-8")
            try:
                code = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=timeout,
                                      check=False).returncode
            except subprocess.TimeoutExpired:
                code = 1
            outcome = {0: "survived", 1: "killed"}.get(code, "incompetent")
            counts[outcome] += 1
            if outcome == "survived":
                diff = "".join(difflib.unified_diff(reference.splitlines(keepends=True),
                                                    mutant.text.splitlines(keepends=True), n=0))
                survivors.append(Survivor(name, mutant.operator, mutant.line_no, mutant.line, diff))
    finally:
        target.write_text(reference, encoding="utf-8")
    return {"counts": counts, "survivors": survivors, "baseline_s": round(baseline_s, 1)}


def changed_lines(diff: str) -> str:
    """A survivor's change in one line: what a mutant of a text file did is not in its operator."""
    return " / ".join(line[:100].rstrip() for line in diff.splitlines()
                      if line[:1] in "+-" and not line.startswith(("+++", "---")))


def score(counts: dict) -> float | None:
    tried = counts["killed"] + counts["survived"]
    return round(100 * counts["killed"] / tried, 1) if tried else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("days", nargs="*")
    parser.add_argument("--tiers", default="unit,mlflow", help="tiers to run (default unit,mlflow)")
    parser.add_argument("--file", action="append", help="only this learner file (repeatable)")
    parser.add_argument("--tests", action="append", metavar="TEST_FILE",
                        help="run only this test file of the day on each mutant (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the days and files that would run")
    args = parser.parse_args(argv)
    days = [load_day(ROOT, d) for d in args.days] if args.days else all_days(ROOT)
    tiers = args.tiers.split(",")
    plan = [(day, name) for day in days for name in day.files
            if (name.endswith(".py") or kind_of(name)) and (args.file is None or name in args.file)]
    if args.list:
        print("\n".join(f"{day.name} {name}" for day, name in plan))
        return 0
    REPORTS.mkdir(parents=True, exist_ok=True)
    unexplained_total = 0
    by_day: dict[str, list[tuple[str, dict]]] = {}
    for day, name in plan:
        with tempfile.TemporaryDirectory(prefix="katas-mutation-") as scratch:
            started = time.monotonic()
            outcome = run_file(day, name, tiers, Path(scratch), args.tests)
            outcome["seconds"] = round(time.monotonic() - started)
        by_day.setdefault(day.name, []).append((name, outcome))
        listed = equivalents(day)
        unexplained = [s for s in outcome["survivors"] if s.key() not in listed]
        unexplained_total += len(unexplained)
        c = outcome["counts"]
        print(f"{day.name} {name}: {score(c)}% killed ({c['killed']} killed, {c['survived']} survived "
              f"[{len(outcome['survivors']) - len(unexplained)} listed equivalent], {c['incompetent']} "
              f"incompetent, {c['skipped']} filtered) in {outcome['seconds']} s", flush=True)
        for s in unexplained:
            change = "" if name.endswith(".py") else f"\n      {changed_lines(s.diff)}"
            print(f"  survivor {s.file}:{s.line_no} {s.operator}: {s.line}{change}")
    for day_name, files in by_day.items():
        totals = {k: sum(o["counts"][k] for _, o in files) for k in ("killed", "survived", "incompetent", "skipped")}
        listed = equivalents(load_day(ROOT, day_name))
        report = {
            "day": day_name, "tiers": tiers, "score": score(totals), **totals,
            "files": {name: {**o["counts"], "score": score(o["counts"]), "seconds": o["seconds"],
                             "survivors": [{"line_no": s.line_no, "operator": s.operator, "line": s.line,
                                            "equivalent": listed.get(s.key())} for s in o["survivors"]]}
                      for name, o in files},
        }
        (REPORTS / f"{day_name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"{day_name}: mutation score {report['score']}% over {totals['killed'] + totals['survived']} mutants")
    if unexplained_total:
        print(f"{unexplained_total} survivors are neither killed nor listed as equivalent")
    return 1 if unexplained_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
