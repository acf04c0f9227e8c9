"""Running a learner's shell script from a test: bounded, and never leaving a process behind.

The script runs in a process group of its own, so a `sleep` or `curl` it started dies
with it when the time is up; the test then fails with what the script printed so far,
not with a hung run. The group is killed as well when the run itself is interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

KILL_WAIT_S = 10


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run_script(path: Path, args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 20, hint: str = "is there a step without a timeout?") -> Finished:
    """Run `bash path args` (stdin empty); past `timeout` the whole group is killed and the
    test fails, naming the script, its arguments, `hint` and its output."""
    started = time.monotonic()
    proc = subprocess.Popen(["bash", str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate(timeout=KILL_WAIT_S)
        pytest.fail(f"{path.name} {' '.join(args)} was still running after {timeout:g} s and was killed; {hint}\n"
                    f"--- stdout ---\n{out}\n--- stderr ---\n{err}", pytrace=False)
    except BaseException:  # Ctrl-C, or the test's own timeout: the script's group must not outlive the run
        _kill_group(proc)
        proc.wait(timeout=KILL_WAIT_S)
        raise
    return Finished(proc.returncode, out, err, time.monotonic() - started)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is already gone
        pass
