"""The self-check: for every day, stubs red, solutions green, every mutant killed,
every blind reviewer's correct answer accepted.

Each check is its own test, so a failure names the day, the mutant or the test at
fault. Pass `--require docker` to make the docker tier mandatory in the day runs too.
A mutant or alternative check proven before with the very same inputs is reused from
`tests/proofs/` and reported as skipped (see mlops_katas/proofs.py); `KATAS_REPROVE=all`
runs every one again.
"""

from __future__ import annotations

import functools
import os
import subprocess
import warnings
from pathlib import Path

import pytest

from mlops_katas import alternatives, mutants, proofs, selfcheck
from mlops_katas.curriculum import all_days, find_root, load_day
from mlops_katas.infra import docker_engine
from mlops_katas.tiers import TIERS, Tiers

ROOT = find_root(Path(__file__).parent)
DAYS = [day.name for day in all_days(ROOT)]
MUTANTS = [(day, mutant.stem) for day in DAYS for mutant in selfcheck.mutants(ROOT, load_day(ROOT, day))]
ALTERNATIVES = [(day, alt.name) for day in DAYS for alt in alternatives.find(ROOT, load_day(ROOT, day))]
DAY_TIMEOUT = selfcheck.RUN_TIMEOUT_S + 60
# The stub run is shared by two checks; under xdist they go to the same worker.
DAYS_GROUPED = [pytest.param(day, marks=pytest.mark.xdist_group(day)) for day in DAYS]
REPROVE_SHARE = proofs.reprove_share()


def _commit() -> str:
    """The share of reused proofs proven again is drawn anew for each commit."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


SEED = _commit()


@functools.cache
def _lacking() -> frozenset[str]:
    """The tiers this machine lacks: a proof made without them holds here as well."""
    tiers = Tiers(set())
    return frozenset(tier for tier in TIERS if tiers.missing(tier))


def _reuse_proof(day, check: str, digest: str) -> None:
    """Skip a check proven before with these very inputs, unless drawn to be proven again."""
    ledger = proofs.Ledger(ROOT, day)
    fully = ledger.proven(check, digest)
    if not (fully or ledger.proven(check, digest, lacking=_lacking())):
        return
    if not proofs.drawn(f"{day.name} {check}", SEED, REPROVE_SHARE):
        scope = "" if fully else f", as far as this machine can (it lacks the {', '.join(sorted(_lacking()))} tier)"
        pytest.skip(f"proven before with these very inputs{scope} (tests/proofs/{day.name}.json); "
                    f"{proofs.REPROVE}=all proves it again")


def _tier_outage(run: selfcheck.DayRun) -> str | None:
    """A required engine that went away (dockerd stopped half-way through a long self-check) fails every test
    of its tier: that proves nothing about the mutant, so it must not be recorded as a kill."""
    broken = run.tests("fail") + run.tests("error")
    messages = [t.get("message") or "" for t in broken]
    if messages and all("tier required but unavailable" in m for m in messages):
        return messages[0].splitlines()[-1].removeprefix("E").strip()
    return None


def _engine_gone(require: tuple[str, ...]) -> str | None:
    """A Docker engine that died in the middle of a test fails it with whatever the client met (a reset
    connection, a container that vanished): a failure that proves nothing about the mutant either.
    Asked after a run that failed, so an engine still answering costs one ping."""
    if "--require=docker" not in require:
        return None
    return docker_engine.probe_now()


def _require_args(config: pytest.Config) -> list[str]:
    return [f"--require={tier}" for tier in config.getoption("require")]


@functools.cache
def _stub_run(day_name: str, require: tuple[str, ...]) -> selfcheck.DayRun:
    day = load_day(ROOT, day_name)
    return selfcheck.run_day(ROOT, day, day.path, *require)


@pytest.fixture
def require(request) -> tuple[str, ...]:
    return tuple(_require_args(request.config))


@pytest.mark.timeout(DAY_TIMEOUT)
@pytest.mark.parametrize("day_name", DAYS_GROUPED)
def test_every_test_fails_against_the_stubs(day_name, require):
    problems = selfcheck.stub_problems(_stub_run(day_name, require))
    assert not problems, f"{day_name} stubs:\n" + "\n".join(problems)


@pytest.mark.timeout(DAY_TIMEOUT)
@pytest.mark.parametrize("day_name", DAYS)
def test_every_test_passes_against_the_solutions(day_name, require):
    day = load_day(ROOT, day_name)
    run = selfcheck.run_day(ROOT, day, ROOT / "solutions" / day_name, *require)
    problems = selfcheck.solution_problems(run)
    assert not problems, f"{day_name} solutions:\n" + "\n".join(problems)
    if selfcheck.unproven(run):
        warnings.warn(f"{day_name}: {len(selfcheck.unproven(run))} tests skipped for a missing tier, unproven here")


# Whole-day runs (stubs, solutions, alternatives) come before the mutants' one-test runs:
# xdist hands out checks in this order, so the two workers finish together, not one of
# them alone on a minute-long day run at the end.
@pytest.mark.timeout(DAY_TIMEOUT)
@pytest.mark.parametrize("day_name, alternative", ALTERNATIVES)
def test_every_alternative_passes(day_name, alternative, require, tmp_path):
    """A correct answer in another style that fails shows a test demanding more than the README says."""
    day = load_day(ROOT, day_name)
    check, digest = f"alternative {alternative}", proofs.alternative_digest(ROOT, day, alternative)
    _reuse_proof(day, check, digest)
    impl = alternatives.assemble(ROOT, day, alternative, tmp_path / day_name)
    run = selfcheck.run_day(ROOT, day, impl, *selfcheck.FAST_ONLY, *require)
    problems = selfcheck.solution_problems(run)
    assert not problems, f"alternative {day_name}/{alternative} is rejected:\n" + "\n".join(problems)
    # A missing tier's tests prove nothing here: such a proof holds only where that tier is missing too.
    proofs.Ledger(ROOT, day).record(check, proofs.without(digest, proofs.tiers_left_unproven(run.results)))


@pytest.mark.timeout(DAY_TIMEOUT)
@pytest.mark.parametrize("day_name, mutant_name", MUTANTS)
def test_every_mutant_is_killed(day_name, mutant_name, require, tmp_path):
    day = load_day(ROOT, day_name)
    path = ROOT / "tests" / "mutants" / day_name / f"{mutant_name}.diff"
    check, digest = f"mutant {mutant_name}", proofs.mutant_digest(ROOT, day, path)
    _reuse_proof(day, check, digest)
    impl = selfcheck.overlay(ROOT, day, path, tmp_path / day_name)
    mutant = mutants.load(path)
    run = selfcheck.run_mutant(ROOT, day, impl, mutant, *require)
    outage = _tier_outage(run) or (None if selfcheck.mutant_survived(run) else _engine_gone(require))
    assert not outage, f"mutant {day_name}/{mutant_name} was not judged, nothing is recorded: {outage}"
    killer = selfcheck.first_failure(run)
    if os.environ.get("KATAS_RECORD_KILLERS") and killer and killer != mutant.killed_by:
        mutants.with_killer(path, killer)  # scripts/record-killers: the next run tries this test first
    # Only the test that killed it last time, skipped here for a missing tier, excuses a survivor: that any tier is
    # missing says nothing about a mutant no test here catches (an equivalent one, say, after its base changed).
    if selfcheck.mutant_survived(run) and mutant.killed_by in selfcheck.unproven(run):
        pytest.skip(f"{mutant_name} is caught only by {mutant.killed_by}, of a tier this machine lacks")
    broke = "" if run.returncode in (0, 1) else (
        f" (the run itself broke: pytest exit code {run.returncode}, e.g. an internal error while "
        "rendering a huge assertion diff; compare counts or a few items, not whole large collections)")
    assert not selfcheck.mutant_survived(run), (
        f"mutant {day_name}/{mutant_name} ({mutants.load(path).bug}) passes every test{broke}:\n{run.output[-2000:]}"
    )
    proofs.Ledger(ROOT, day).record(check, digest)


@pytest.mark.timeout(DAY_TIMEOUT)
@pytest.mark.parametrize("day_name", DAYS_GROUPED)
def test_readme_tasks_hints_and_markers_agree(day_name, require):
    day = load_day(ROOT, day_name)
    problems = selfcheck.consistency_problems(ROOT, day, _stub_run(day_name, require))
    assert not problems, f"{day_name}:\n" + "\n".join(problems)
