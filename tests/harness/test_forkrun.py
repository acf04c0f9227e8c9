"""Pytest runs forked from a zygote: the same output, status and clean-up as a fresh interpreter."""

from __future__ import annotations

import os
import time

import pytest

from mlops_katas import forkrun
from mlops_katas.scratch import stat_fields

pytestmark = pytest.mark.timeout(120)

TESTS = '''
import os, subprocess, time
import json

def test_sees_the_zygote_environment():
    assert os.environ.get("FORKRUN_PROBE") == "set", "the zygote's environment reaches the run"

def test_starts_without_state_of_an_earlier_run():
    assert not hasattr(json, "left_behind"), "an earlier run's state leaked into this one"
    json.left_behind = True

def test_fails_when_a_file_says_so():
    assert not os.path.exists("fail"), "failing on purpose"

def test_sees_no_variable_set_after_the_zygote_started():
    assert "SET_LATER" not in os.environ, "the run sees the zygote's environment, fixed at its start"

def test_leaves_work_for_the_exit(tmp_path_factory):
    if not os.path.exists("at-exit"):
        return
    import atexit, threading
    atexit.register(lambda: open("exit-handler-ran", "w").close())
    def late_writer():
        time.sleep(0.5)
        open("thread-finished", "w").close()
    threading.Thread(target=late_writer).start()

def test_hangs_with_a_child(tmp_path_factory):
    if not os.path.exists("hang"):
        return
    child = subprocess.Popen(["sleep", "300"])
    open("child.pid", "w").write(str(child.pid))
    time.sleep(300)
'''


@pytest.fixture(scope="module")
def zygote():
    with forkrun.Zygote({**os.environ, "FORKRUN_PROBE": "set"}, preload=False) as z:
        yield z


@pytest.fixture
def project(tmp_path):
    (tmp_path / "test_probe.py").write_text(TESTS)
    return tmp_path


def _run(zygote, project, *args, timeout_s=60):
    return zygote.run(["-q", "-p", "no:cacheprovider", "-p", "no:xdist", *args], project,
                      project / "output.txt", timeout_s)


def test_a_passing_run_exits_0_with_pytest_output_twice_in_a_row(zygote, project):
    for _ in range(2):  # the second run must not see the first one's module state
        done = _run(zygote, project)
        assert done.returncode == 0, f"every probe test should pass:\n{done.output}"
        assert "6 passed" in done.output, f"pytest's own summary is the output:\n{done.output}"


def test_a_failing_run_exits_1_and_an_empty_one_5(zygote, project):
    (project / "fail").write_text("")
    done = _run(zygote, project)
    assert done.returncode == 1 and "1 failed" in done.output, f"one test should fail:\n{done.output}"
    done = _run(zygote, project, "-k", "no_such_test_at_all")
    assert done.returncode == 5, "pytest's own exit status comes back (5: nothing collected)"


def test_the_environment_is_the_zygotes(zygote, project, monkeypatch):
    monkeypatch.setenv("SET_LATER", "1")
    done = _run(zygote, project, "-k", "environment or variable")
    assert done.returncode == 0, f"the run should see the zygote's environment only:\n{done.output}"


def test_a_run_waits_for_its_threads_and_runs_its_exit_handlers(zygote, project):
    """As a fresh interpreter's exit does, though a forked run skips the heap's teardown."""
    (project / "at-exit").write_text("")
    done = _run(zygote, project, "-k", "leaves_work")
    assert done.returncode == 0, done.output
    assert (project / "thread-finished").exists(), "the run should end only after its non-daemon threads"
    assert (project / "exit-handler-ran").exists(), "exit handlers registered by the run should run"


def test_a_run_past_its_deadline_is_killed_with_its_children(zygote, project):
    (project / "hang").write_text("")
    done = _run(zygote, project, "-k", "hangs", timeout_s=3)
    assert done.returncode == -1, "a run past its deadline reports -1"
    deadline = time.monotonic() + 10
    while not (project / "child.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int((project / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the run's own child process must be killed with it"
    (project / "hang").unlink()
    assert _run(zygote, project).returncode == 0, "the zygote still serves runs after a killed one"


def _alive(pid: int) -> bool:
    return stat_fields(f"/proc/{pid}/stat")[:1] not in ([], ["Z"])
