"""The `katas` command, run as a learner runs it, in a throwaway checkout."""

from __future__ import annotations

import json
import subprocess

import pytest

from mlops_katas import lock
from mlops_katas.curriculum import find_root

from .test_plugin import SOLVED, STUB, TEST

pytestmark = pytest.mark.timeout(600)
GIT_TIMEOUT_S = 30


def git(path, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=path,
                   check=True, capture_output=True, timeout=GIT_TIMEOUT_S)


@pytest.fixture
def day98(checkout):
    checkout.day("day98", {"mod.py": STUB, "test_mod.py": TEST})
    lock.write(checkout.path)
    git(checkout.path, "init", "-q")
    git(checkout.path, "add", "-A")
    git(checkout.path, "commit", "-qm", "upstream")
    return checkout


def test_list_shows_each_day_and_progress_from_the_last_run(day98):
    before = day98.katas("list")
    assert before.returncode == 0 and "day98" in before.stdout and "not started" in before.stdout, before.stdout
    day98.pytest("katas/day98")
    after = day98.katas("list")
    assert "0/1" in after.stdout, after.stdout


def test_check_runs_the_day_and_points_at_the_hint(day98):
    done = day98.katas("check", "day98")
    assert done.returncode == 1, "a day with a stub is red"
    assert "katas hint day98" in done.stdout, done.stdout


def test_hints_are_progressive_and_remembered(day98):
    levels = [day98.katas("hint", "98").stdout for _ in range(4)]
    assert "hint 1 of 3" in levels[0] and "one" in levels[0]
    assert "hint 2 of 3" in levels[1] and "two" in levels[1]
    assert "hint 3 of 3" in levels[2] and "three" in levels[2]
    assert "hint 3 of 3" in levels[3], "past the last level the last hint is shown again"


def test_reset_backs_up_the_learners_file_and_restores_the_stub(day98):
    mod = day98.path / "katas" / "day98" / "mod.py"
    mod.write_text(SOLVED)
    done = day98.katas("reset", "day98", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'raise NotImplementedError("task 1")' in mod.read_text(), "the stub should be back"
    backups = list((day98.path / ".katas" / "backups").glob("day98-*/mod.py"))
    assert len(backups) == 1 and backups[0].read_text() == SOLVED, "the learner's work must be kept"


def test_reset_asks_first_and_changes_nothing_on_no(day98):
    mod = day98.path / "katas" / "day98" / "mod.py"
    mod.write_text(SOLVED)
    done = day98.katas("reset", "day98", input="n\n")
    assert done.returncode == 1 and mod.read_text() == SOLVED


def test_solution_is_shown_only_after_the_day_passes_or_with_peek(day98):
    (day98.path / "solutions" / "day98").mkdir(parents=True)
    (day98.path / "solutions" / "day98" / "mod.py").write_text(SOLVED)
    assert day98.katas("solution", "day98").returncode == 1, "not before the day passes"
    assert "return 42" in day98.katas("solution", "day98", "--peek").stdout
    (day98.path / "katas" / "day98" / "mod.py").write_text(SOLVED)
    day98.pytest("katas/day98")
    assert "return 42" in day98.katas("solution", "day98").stdout


def test_score_writes_results_summary_and_badge(day98):
    (day98.path / "katas" / "day98" / "mod.py").write_text(SOLVED)
    done = day98.katas("score")
    assert done.returncode == 0, done.stdout + done.stderr
    out = day98.path / ".katas" / "score"
    report = json.loads((out / "results.json").read_text())
    assert report["status"] == "pass" and (report["score"], report["max_score"]) == (1, 1)
    assert report["days"]["day98"]["tests"][0]["task_id"] == 1
    assert json.loads((out / "badge.json").read_text()) == {
        "schemaVersion": 1, "label": "katas", "message": "1/1 days", "color": "brightgreen"}
    assert "| day98 |" in (out / "summary.md").read_text()


def test_score_reports_an_edited_test_file_and_scores_nothing(day98):
    test_file = day98.path / "katas" / "day98" / "test_mod.py"
    test_file.write_text(test_file.read_text().replace("== 42", "is not None"))
    (day98.path / "katas" / "day98" / "mod.py").write_text("def answer():\n    return 0\n")
    git(day98.path, "commit", "-qam", "sneaky")
    done = day98.katas("score", "--upstream", "HEAD~1")
    assert done.returncode == 1
    report = json.loads((day98.path / ".katas" / "score" / "results.json").read_text())
    assert report["tampered"] == ["katas/day98/test_mod.py"] and report["score"] == 0
    assert json.loads((day98.path / ".katas" / "score" / "badge.json").read_text())["message"] == "tests modified"


def test_edited_support_files_count_as_tampering_but_a_learners_own_files_do_not(checkout):
    checkout.day("day98", {"mod.py": STUB, "test_mod.py": TEST})
    provided = checkout.path / "katas" / "day98" / "data.json"
    provided.write_text('{"answer": 42}\n')
    standin = checkout.path / "docker" / "standin" / "app.py"
    standin.parent.mkdir(parents=True)
    standin.write_text("HEALTHY = True\n")
    lock.write(checkout.path)
    (checkout.path / "katas" / "day98" / "notes.py").write_text("# what I learned\n")
    assert lock.tampered(checkout.path) == [], "a file the learner adds beside their work is theirs"
    provided.write_text('{"answer": 0}\n')
    standin.write_text("HEALTHY = False\n")
    assert lock.tampered(checkout.path) == ["docker/standin/app.py", "katas/day98/data.json"], (
        "edits to provided files and to what the tests run are tampering")

def test_the_committed_lock_matches_the_tests_and_stubs():
    root = find_root()
    assert lock.compute(root) == lock.read(root), "katas.lock is out of date: run `katas lock` and commit it"
