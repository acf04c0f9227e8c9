"""The self-check's runs: a mutant's recorded killer is tried first, the whole day otherwise."""

from __future__ import annotations

import pytest

from mlops_katas import mutants, selfcheck
from mlops_katas.curriculum import load_day

pytestmark = pytest.mark.timeout(300)

TESTS = '''
import pytest
from mod import answer

pytestmark = pytest.mark.task(taskno=1)

def test_answer_is_an_int():
    assert isinstance(answer(), int), "answer() should be an int"

def test_answer_is_42():
    assert answer() == 42, "answer() should return 42"
'''


@pytest.fixture
def day(checkout):
    checkout.day("day98", {"mod.py": "def answer():\n    # TODO(task 1)\n    raise NotImplementedError('task 1')\n",
                           "test_mod.py": TESTS})
    return load_day(checkout.path, "day98")


def mutant(tmp_path, killed_by: str | None):
    path = tmp_path / "wrong.diff"
    header = "# Mutant: returns 41.\n" + (f"# Killed-by: {killed_by}\n" if killed_by else "")
    path.write_text(header + "--- a/mod.py\n+++ b/mod.py\n@@ -1 +1 @@\n-x\n+x\n")
    return mutants.load(path)


@pytest.fixture
def wrong(tmp_path):
    impl = tmp_path / "impl"
    impl.mkdir()
    (impl / "mod.py").write_text("def answer():\n    return 41\n")
    return impl


def test_the_recorded_killer_runs_alone(checkout, day, wrong, tmp_path):
    run = selfcheck.run_mutant(checkout.path, day, wrong, mutant(tmp_path, "test_mod.py::test_answer_is_42"))
    names = [t["name"] for t in run.results["tests"] if t["status"] != "not_run"]
    assert names == ["test_mod.py::test_answer_is_42"], f"only the killer should run: {names}"
    assert selfcheck.mutant_survived(run) is False, "the killer fails, so the mutant is killed"
    assert selfcheck.first_failure(run) == "test_mod.py::test_answer_is_42", "the failing test is named"


@pytest.mark.parametrize("stale", ["test_mod.py::test_answer_is_an_int", "test_mod.py::test_gone", None])
def test_a_stale_or_missing_killer_falls_back_to_the_whole_day(checkout, day, wrong, tmp_path, stale):
    run = selfcheck.run_mutant(checkout.path, day, wrong, mutant(tmp_path, stale))
    assert selfcheck.mutant_survived(run) is False, f"the whole day still kills the mutant: {run.output[-800:]}"
    assert selfcheck.first_failure(run) == "test_mod.py::test_answer_is_42", "the day's failing test is found"


def test_an_end_to_end_test_never_counts_as_a_mutants_killer(checkout, wrong, tmp_path):
    """End-to-end tests take minutes: mutants (and alternatives) are judged by the fast tests only."""
    checkout.day("day98", {
        "mod.py": "def answer():\n    # TODO(task 1)\n    raise NotImplementedError('task 1')\n",
        "test_mod.py": TESTS.replace("def test_answer_is_42", "@pytest.mark.end_to_end\ndef test_answer_is_42"),
    })
    day = load_day(checkout.path, "day98")
    run = selfcheck.run_mutant(checkout.path, day, wrong, mutant(tmp_path, "test_mod.py::test_answer_is_42"))
    assert selfcheck.mutant_survived(run) is True, (
        f"only the end-to-end test catches this mutant, so the self-check must report it as surviving: {run.output[-800:]}")
