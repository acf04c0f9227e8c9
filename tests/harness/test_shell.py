"""A learner's script run from a test leaves no process behind, however the run ends."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mlops_katas.shell import run_script


class Interrupted(Exception):
    pass


def _gone(pid: int, wait_s: float = 10) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _interrupt(signum, frame):
    raise Interrupted


def test_an_interrupted_run_kills_the_scripts_background_children(tmp_path):
    script = tmp_path / "hang.sh"
    script.write_text(f"sleep 120 &\necho $! > {tmp_path / 'child.pid'}\nwait\n")
    previous = signal.signal(signal.SIGALRM, _interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(Interrupted):
            run_script(script, [], timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    child = int((tmp_path / "child.pid").read_text())
    assert _gone(child), "the script's background sleep must be killed with the run"


def test_a_script_past_its_timeout_fails_the_test_and_leaves_nothing(tmp_path):
    script = tmp_path / "hang.sh"
    script.write_text(f"sleep 120 &\necho $! > {tmp_path / 'child.pid'}\nwait\n")
    with pytest.raises(pytest.fail.Exception, match="was still running after 1 s"):
        run_script(script, ["--now"], timeout=1)
    assert _gone(int((tmp_path / "child.pid").read_text())), "the script's background sleep must be killed"
