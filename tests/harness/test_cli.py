"""The `katas` command, run as a learner runs it, in a throwaway checkout."""

from __future__ import annotations

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
    (day98.path / "katas" / "day98" / "mod.py").write_text("def answer():\n    return 0\n")
    day98.pytest("katas/day98")
    after = day98.katas("list")
    assert "0/1" in after.stdout, after.stdout


def test_check_runs_the_day_and_points_at_the_hint(day98):
    done = day98.katas("check", "day98")
    assert done.returncode == 1, "a day with a stub is red"
    assert "katas hint day98" in done.stdout, done.stdout


def test_check_without_a_day_runs_the_day_you_are_on_and_task_selects(day98):
    (day98.path / "katas" / "day98" / "mod.py").write_text("def answer():\n    return 0\n")
    done = day98.katas("check")
    assert done.returncode == 1 and "day98" in done.stdout and "1 failed" in done.stdout, done.stdout
    only = day98.katas("check", "day98", "--task", "2")
    assert "1 deselected" in only.stdout, only.stdout


def test_hints_are_progressive_and_remembered(day98):
    levels = [day98.katas("hint", "98").stdout for _ in range(4)]
    assert "hint 1 of 3" in levels[0] and "one" in levels[0]
    assert "hint 2 of 3" in levels[1] and "two" in levels[1]
    assert "hint 3 of 3" in levels[2] and "three" in levels[2]
    assert "hint 3 of 3" in levels[3], "past the last level the last hint is shown again"
    assert "no more" in levels[3] and "no more" not in levels[2], "past the last level, say there are no more"


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'{"hints": [1]}',
                                     b'{"hints": {"day98": [3]}}', b'{"hints": {"day98": {"1": "two"}}}'])
def test_a_corrupt_state_file_is_set_aside_not_a_traceback(day98, content):
    state = day98.path / ".katas" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(content)
    done = day98.katas("hint", "day98")
    assert done.returncode == 0 and "hint 1 of 3" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]", b'{"score": "all"}'])
def test_a_corrupt_results_file_is_ignored_by_list(day98, content):
    results = day98.path / ".katas" / "results" / "day98.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_bytes(content)
    done = day98.katas("list")
    assert done.returncode == 0 and "day98" in done.stdout and "Traceback" not in done.stdout + done.stderr


def test_reset_backs_up_the_learners_file_and_restores_the_stub(day98):
    mod = day98.path / "katas" / "day98" / "mod.py"
    mod.write_text(SOLVED)
    done = day98.katas("reset", "day98", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'raise NotImplementedError("task 1")' in mod.read_text(), "the stub should be back"
    backups = list((day98.path / ".katas" / "backups").glob("day98-*/mod.py"))
    assert len(backups) == 1 and backups[0].read_text() == SOLVED, "the learner's work must be kept"


def test_reset_clears_the_days_results_and_hint_levels(day98):
    (day98.path / "solutions" / "day98").mkdir(parents=True)
    (day98.path / "solutions" / "day98" / "mod.py").write_text(SOLVED)
    mod = day98.path / "katas" / "day98" / "mod.py"
    mod.write_text(SOLVED)
    day98.pytest("katas/day98")
    day98.katas("hint", "day98")
    assert day98.katas("solution", "day98").returncode == 0, "unlocked by the pass"
    assert day98.katas("reset", "day98", "--yes").returncode == 0
    assert not (day98.path / ".katas" / "results" / "day98.json").exists()
    assert "hint 1 of 3" in day98.katas("hint", "day98").stdout, "hint levels start again"
    assert day98.katas("solution", "day98").returncode == 1, "the unlock went with the results"


def test_a_day_whose_files_are_the_stubs_is_not_started_even_after_a_run(day98):
    day98.pytest("katas/day98")
    listed = day98.katas("list").stdout
    assert "not started" in listed and "0/1" not in listed, listed


def test_two_resets_in_the_same_second_keep_both_backups(day98):
    mod = day98.path / "katas" / "day98" / "mod.py"
    for text in ("def answer():\n    return 1\n", "def answer():\n    return 2\n"):
        mod.write_text(text)
        assert day98.katas("reset", "day98", "--yes").returncode == 0
    kept = sorted(p.read_text() for p in (day98.path / ".katas" / "backups").glob("day98-*/mod.py"))
    assert kept == ["def answer():\n    return 1\n", "def answer():\n    return 2\n"], "no backup may be overwritten"


def test_reset_without_a_terminal_changes_nothing_and_says_how(day98):
    mod = day98.path / "katas" / "day98" / "mod.py"
    mod.write_text(SOLVED)
    done = day98.katas("reset", "day98", input="")
    assert done.returncode == 1 and mod.read_text() == SOLVED and "--yes" in done.stdout, done.stdout


@pytest.mark.parametrize("argument", ["100", "1e1", "day00", "0", "tomorrow"])
def test_a_day_that_is_not_a_day_is_one_line(day98, argument):
    done = day98.katas("check", argument)
    assert done.returncode == 2 and "is not a day" in done.stdout and "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("options, says", [
    (["--require", "dockr"], "--require takes"),
    (["--impl", "/nonexistent/folder"], "no such folder"),
])
def test_bad_pytest_options_are_one_line(day98, options, says):
    done = day98.pytest("katas/day98", *options)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and says in output and "INTERNALERROR" not in output and "Traceback" not in output, output


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
    long_line = "def answer():\n    return 42  # " + "a comment much longer than any terminal is wide " * 4 + "\n"
    (day98.path / "solutions" / "day98" / "mod.py").write_text(long_line)
    assert long_line.splitlines()[1] in day98.katas("solution", "day98").stdout.splitlines(), (
        "piped, the solution is printed as it is: no line cut or wrapped")


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


def test_ctrl_c_during_check_lets_the_tests_clean_up_and_says_so_in_one_line(day98):
    """The terminal sends SIGINT to the whole foreground group: `katas` must wait for pytest's
    teardown (containers, servers) instead of killing it, then stop without a traceback."""
    import os
    import signal
    import sys
    import time

    marker = day98.path / "teardown-ran"
    (day98.path / "katas" / "day98" / "conftest.py").write_text(
        "import pathlib, pytest\n"
        "@pytest.fixture(autouse=True)\n"
        "def server():\n"
        f"    pathlib.Path({str(day98.path / 'started')!r}).write_text('x')\n"
        "    yield\n"
        f"    pathlib.Path({str(marker)!r}).write_text('x')\n")
    (day98.path / "katas" / "day98" / "mod.py").write_text("import time\ndef answer():\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-P", "-m", "mlops_katas.cli", "check", "day98"], cwd=day98.path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (day98.path / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the test never started"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    output, _ = proc.communicate(timeout=60)
    assert marker.exists(), "the fixture's teardown must run after Ctrl-C"
    assert "Traceback" not in output, output
    assert proc.returncode != 0
