"""`katas score` as a fork's CI runs it, and as an adversarial learner attacks it.

Each test makes a throwaway upstream repository with one day (`day98`: one learner
file, one test), then a learner's checkout that tries to raise its score without
solving the task. Upstream's tests, run on the learner's files alone, must decide.
"""

from __future__ import annotations

import json
import shutil

import pytest

from .test_cli import day98, git  # noqa: F401 (day98 is the fixture: one committed upstream day)
from .test_plugin import SOLVED

pytestmark = pytest.mark.timeout(300)
WRONG = "def answer():\n    return 0\n"


def learner_file(checkout, name="mod.py"):
    return checkout.path / "katas" / "day98" / name


def score(checkout, *args):
    done = checkout.katas("score", *args)
    assert done.returncode == 0, f"katas score failed:\n{done.stdout}\n{done.stderr}"
    out = checkout.path / ".katas" / "score"
    return json.loads((out / "results.json").read_text()), out


def day_score(report):
    data = report["days"]["day98"]
    return data["score"], data["max_score"]


def commit_as_learner(checkout):
    git(checkout.path, "add", "-A")
    git(checkout.path, "commit", "-qm", "learner")


def test_a_solved_day_scores_full_marks_with_summary_and_badge(day98):
    learner_file(day98).write_text(SOLVED)
    report, out = score(day98)
    assert day_score(report) == (1, 1) and report["status"] == "pass" and report["percent"] == 100
    assert report["verified"] is False, "without --upstream or --fork the score is the checkout's own"
    assert json.loads((out / "badge.json").read_text())["message"] == "1/1 days (unverified)"
    assert "| day98 |" in (out / "summary.md").read_text()


def test_untouched_stubs_score_zero_without_running_the_day(day98):
    report, _ = score(day98)
    assert day_score(report) == (0, 1) and report["days"]["day98"]["started"] is False


def test_an_edited_upstream_test_is_ignored_and_upstream_decides(day98):
    test_file = learner_file(day98, "test_mod.py")
    test_file.write_text(test_file.read_text().replace("== 42", "is not None"))
    learner_file(day98).write_text(WRONG)
    commit_as_learner(day98)
    report, out = score(day98, "--upstream", "HEAD~1")
    assert day_score(report) == (0, 1), "the learner's edit to a test file must not be what runs"
    assert report["verified"] is True and "katas/day98/test_mod.py" in report["ignored"]
    assert "ignored" in (out / "summary.md").read_text()


@pytest.mark.parametrize("where, text", [
    ("katas/conftest.py", "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
                          "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"),
    ("pytest.py", "import sys\nprint('fake pytest: all passed')\nsys.exit(0)\n"),
    ("katas/day98/test_extra.py", "def test_free():\n    pass\n"),
    ("katas/day98/conftest.py", "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
                                "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"),
], ids=["katas-conftest", "root-pytest-py", "extra-test-file", "day-conftest"])
def test_files_added_beside_the_work_are_never_run(day98, where, text):
    (day98.path / where).write_text(text)
    learner_file(day98).write_text(WRONG)
    report, _ = score(day98)
    assert day_score(report) == (0, 1), f"{where} added by the learner must not change the score"


def test_learner_code_that_rewrites_result_files_at_exit_gains_nothing(day98):
    learner_file(day98).write_text(WRONG + (
        "import atexit, json, pathlib\n"
        "def _forge():\n"
        "    for path in pathlib.Path('/').glob('tmp/**/day98.json'):\n"
        "        path.write_text(json.dumps({'status': 'pass', 'score': 1, 'max_score': 1}))\n"
        "atexit.register(_forge)\n"))
    report, _ = score(day98)
    assert day_score(report) == (0, 1)


def test_an_early_exit_scores_zero_of_the_full_maximum_with_a_reason(day98):
    learner_file(day98).write_text("import os\nos._exit(0)\n" + SOLVED)
    report, out = score(day98)
    data = report["days"]["day98"]
    assert (data["score"], data["max_score"], data["status"]) == (0, 1, "error")
    assert "ended before pytest finished" in data["message"]
    assert "ended before pytest finished" in (out / "summary.md").read_text()


def test_a_forged_record_on_the_report_stream_is_caught(day98):
    learner_file(day98).write_text(SOLVED + (
        "import os, stat\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        "            os.write(fd, b'0' * 64 + b' {\"kind\": \"report\", \"seq\": 0}\\n')\n"
        "    except OSError:\n"
        "        pass\n"))
    report, _ = score(day98)
    data = report["days"]["day98"]
    assert data["status"] == "error" and "tampered" in data["message"], data


def test_a_symlinked_learner_file_is_not_followed(day98, tmp_path):
    outside = tmp_path / "elsewhere.py"
    outside.write_text(SOLVED)
    learner_file(day98).unlink()
    learner_file(day98).symlink_to(outside)
    report, _ = score(day98)
    assert day_score(report) == (0, 1)
    assert any("symbolic link" in note for note in report["days"]["day98"]["notes"])


def test_crlf_line_endings_are_not_edits(day98):
    for path in (learner_file(day98), learner_file(day98, "test_mod.py"), day98.path / "conftest.py"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    report, _ = score(day98)
    assert report["ignored"] == [], "a checkout with core.autocrlf=true edited nothing"
    assert report["days"]["day98"]["started"] is False, "CRLF stubs are still the stubs"


def test_fork_mode_scores_another_checkout_with_this_ones_tests(day98, tmp_path):
    fork = tmp_path / "fork"
    shutil.copytree(day98.path, fork)
    (fork / "katas" / "day98" / "mod.py").write_text(SOLVED)
    test_file = fork / "katas" / "day98" / "test_mod.py"
    test_file.write_text(test_file.read_text().replace("== 42", "is not None"))
    report, _ = score(day98, "--fork", str(fork))
    assert day_score(report) == (1, 1) and report["verified"] is True
    assert report["ignored"] == ["katas/day98/test_mod.py"]


def test_a_second_score_reuses_an_unchanged_days_result_and_reruns_a_changed_one(day98, tmp_path):
    imports = tmp_path / "imports.log"
    counting = f"open({str(imports)!r}, 'a').write('x')\n"
    learner_file(day98).write_text(counting + SOLVED)
    assert day_score(score(day98)[0]) == (1, 1)
    assert day_score(score(day98)[0]) == (1, 1), "the cached result is the same"
    assert imports.read_text() == "x", "an unchanged day is not run again"
    learner_file(day98).write_text(counting + WRONG)
    assert day_score(score(day98)[0]) == (0, 1), "a changed file is scored afresh"
    for cached in (day98.path / ".katas" / "score-cache").glob("*.json"):
        cached.write_text("{not json")
    assert day_score(score(day98)[0]) == (0, 1), "a corrupt cache entry is ignored, the day is run"
