"""The pytest plugin: implementation switching, friendly failures, tiers, results files."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(600)

STUB = '''
def answer():
    # TODO(task 1): return 42
    raise NotImplementedError("task 1")
'''
SOLVED = "def answer():\n    return 42\n"
TEST = '''
import pytest

pytestmark = pytest.mark.timeout(600)
from mod import answer

pytestmark = pytest.mark.task(taskno=1)

def test_answer_is_42():
    assert answer() == 42, "answer() should return 42"
'''


def results(checkout, day="day98"):
    return json.loads((checkout.path / ".katas" / "results" / f"{day}.json").read_text())


def test_a_stub_fails_with_one_line_naming_day_task_file_and_hint(checkout):
    checkout.day("day98", {"mod.py": STUB, "test_mod.py": TEST})
    done = checkout.pytest("katas/day98")
    assert done.returncode == 1
    expected = "day98 task 1 is yours to do: answer in katas/day98/mod.py (README task 1, 'katas hint day98')"
    assert expected in done.stdout, done.stdout
    assert "Traceback" not in done.stdout and "NotImplementedError" not in done.stdout, done.stdout


def test_a_not_implemented_error_from_a_library_is_a_failure_not_a_stub(checkout):
    # pyarrow raises ArrowNotImplementedError (a NotImplementedError) for a dtype it lacks: the
    # learner's call failed; no stub was reached, so the test must not say "yours to do".
    checkout.day("day98", {"mod.py": "import asyncio\n\ndef answer():\n    asyncio.AbstractEventLoop().run_forever()\n",
                           "test_mod.py": TEST})
    done = checkout.pytest("katas/day98")
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout
    assert "is yours to do" not in done.stdout and "run_forever" in done.stdout, done.stdout
    assert results(checkout)["tests"][0]["status"] == "fail", "a failure, not a task left to do"


def test_impl_option_and_env_run_the_same_tests_against_another_folder(checkout, tmp_path_factory):
    checkout.day("day98", {"mod.py": STUB, "test_mod.py": TEST})
    solutions = tmp_path_factory.mktemp("solutions")
    (solutions / "day98").mkdir()
    (solutions / "day98" / "mod.py").write_text(SOLVED)
    assert checkout.pytest("katas/day98", "--impl", str(solutions)).returncode == 0, "a folder of day folders"
    assert checkout.pytest("katas/day98", "--impl", str(solutions / "day98")).returncode == 0, "one day's folder"
    assert checkout.pytest("katas/day98", env={"KATAS_IMPL": str(solutions)}).returncode == 0, "KATAS_IMPL"


def test_two_days_with_the_same_module_name_do_not_share_it(checkout):
    checkout.day("day97", {"mod.py": "VALUE = 97\n", "test_mod.py": TEST.replace("answer", "VALUE").replace(
        "VALUE() == 42", "VALUE == 97").replace("def test_VALUE_is_42", "def test_value_is_97")})
    checkout.day("day98", {"mod.py": "VALUE = 98\n", "test_mod.py": '''
import pytest

pytestmark = pytest.mark.timeout(600)
from mod import VALUE
pytestmark = pytest.mark.task(taskno=1)

def test_value_is_98():
    assert VALUE == 98

def test_a_late_import_sees_this_days_module():
    import mod
    assert mod.VALUE == 98
'''})
    done = checkout.pytest("katas")
    assert done.returncode == 0, done.stdout
    assert "3 passed" in done.stdout, done.stdout


def test_an_infinite_loop_fails_that_test_with_a_message_and_the_run_goes_on(checkout):
    checkout.day("day98", {"mod.py": "def answer():\n    while True:\n        pass\n", "test_mod.py": TEST + '''
def test_runs_after_the_loop():
    assert True
'''})
    done = checkout.pytest("katas/day98", "--timeout=2")
    assert "day98 task 1: stopped after 2 s, still running in answer (katas/day98/mod.py line" in done.stdout, done.stdout
    assert "1 failed, 1 passed" in done.stdout, done.stdout


def test_a_syntax_error_in_learner_code_is_one_clear_line(checkout):
    checkout.day("day98", {"mod.py": "def answer(:\n", "test_mod.py": TEST})
    done = checkout.pytest("katas/day98")
    assert "day98: your code could not be imported" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr, "no traceback of the harness itself, also in the summary"
    assert results(checkout)["status"] == "error"


def test_results_file_follows_exercism_v3_with_score(checkout):
    checkout.day("day98", {"mod.py": STUB, "test_mod.py": TEST + '''
def test_always_true():
    print("hello")
    assert True
'''})
    checkout.pytest("katas/day98")
    data = results(checkout)
    assert data["version"] == 3 and data["status"] == "fail" and data["day"] == "day98"
    assert (data["score"], data["max_score"]) == (1, 2)
    by_name = {t["name"]: t for t in data["tests"]}
    failing = by_name["test_mod.py::test_answer_is_42"]
    assert failing["status"] == "fail" and failing["task_id"] == 1
    assert "is yours to do" in failing["message"]
    assert "assert answer() == 42" in failing["test_code"]
    assert by_name["test_mod.py::test_always_true"]["output"].strip() == "hello"


def test_runs_against_another_impl_do_not_touch_the_learners_progress(checkout, tmp_path_factory):
    checkout.day("day98", {"mod.py": STUB, "test_mod.py": TEST})
    other = tmp_path_factory.mktemp("impl")
    (other / "mod.py").write_text(SOLVED)
    checkout.pytest("katas/day98", "--impl", str(other))
    assert not (checkout.path / ".katas" / "results").exists(), "--impl runs must not record learner progress"


def test_a_missing_docker_engine_skips_with_a_reason_or_fails_when_required(checkout):
    checkout.day("day98", {"mod.py": SOLVED, "test_mod.py": TEST.replace(
        "pytestmark = pytest.mark.task(taskno=1)", "pytestmark = [pytest.mark.task(taskno=1), pytest.mark.docker]")})
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    skipped = checkout.pytest("katas/day98", "-rs", env=nowhere)
    assert skipped.returncode == 0 and "docker tier skipped:" in skipped.stdout, skipped.stdout
    assert results(checkout)["status"] == "fail", "a skipped tier must not count as a completed day"
    required = checkout.pytest("katas/day98", "--require", "docker", env=nowhere)
    assert required.returncode == 1 and "docker tier required but unavailable" in required.stdout, required.stdout


def test_a_non_python_stub_fails_with_the_task_line_until_started(checkout):
    checkout.day("day98", {"Dockerfile": "# STUB(task 1): write the Dockerfile\n", "test_mod.py": '''
import pytest

pytestmark = pytest.mark.timeout(600)
pytestmark = pytest.mark.task(taskno=1)

def test_dockerfile_has_a_user(learner_file):
    assert "USER" in learner_file("Dockerfile").read_text()
'''})
    done = checkout.pytest("katas/day98")
    assert "day98 task 1 is yours to do: Dockerfile in katas/day98/Dockerfile" in done.stdout, done.stdout


@pytest.mark.parametrize("profile_env, derandomized", [({"CI": "1"}, True), ({"CI": None, "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI": None}, False)])
def test_ci_gets_the_derandomised_hypothesis_profile(checkout, profile_env, derandomized):
    checkout.day("day98", {"mod.py": SOLVED, "test_mod.py": TEST + '''
from hypothesis import settings

def test_profile():
    print("DERANDOMIZE", settings.default.derandomize)
'''})
    done = checkout.pytest("katas/day98", "-s", env=profile_env)
    assert f"DERANDOMIZE {derandomized}" in done.stdout, done.stdout
