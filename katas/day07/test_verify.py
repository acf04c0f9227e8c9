"""Day 07 task 3: the monitor check, with the day-06 reference monitor against a real HTTP server."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from mlops_katas.infra.http_server import ControlledServer
from week1 import verify

pytestmark = pytest.mark.task(taskno=3)


def test_healthy_service_passes_the_check(monitor):
    with ControlledServer("healthy") as server:
        assert verify(server.url, monitor=monitor, timeout_s=10) is True, "a 200 on /health should pass"
        assert any(path.startswith("/health") for _, path in server.requests), "the monitor should call /health"


def test_failing_service_fails_the_check(monitor):
    with ControlledServer("failing") as server:
        assert verify(server.url, monitor=monitor, timeout_s=10) is False, "a 500 on /health should fail"


def _running(pid: int) -> bool:
    """Whether process `pid` is still alive (a zombie waiting to be reaped counts as ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def _sleep_pid(record: Path) -> int | None:
    """The pid a stand-in monitor wrote for its background `sleep`, if it wrote one."""
    try:
        return int(record.read_text().strip())
    except (OSError, ValueError):
        return None


def _ended_within(pid: int | None, seconds: float = 5) -> bool:
    """Whether process `pid` (None: never started) has ended, waiting up to `seconds` for it to."""
    deadline = time.monotonic() + seconds
    while pid is not None and _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid is None or not _running(pid)


def _kill_recorded_sleep(record: Path) -> None:
    """Leave nothing behind, whatever verify did: SIGKILL the stand-in monitor's sleep if it still runs
    (only our own sleep, never a pid the system has reused)."""
    child = _sleep_pid(record)
    try:
        if child is not None and _running(child) and b"sleep" in Path(f"/proc/{child}/cmdline").read_bytes():
            os.kill(child, signal.SIGKILL)
    except OSError:
        pass


def _children() -> set[int]:
    """The pids of this process's children, ended-but-unreaped ones (zombies) included."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == me:
                found.add(int(entry.name))
    return found


def test_hanging_monitor_is_a_failed_check_and_is_killed_with_its_children(tmp_path):
    before = _children()
    record = tmp_path / "child.pid"
    hanging = tmp_path / "monitor.sh"
    # The way a monitor hangs in practice: bash waits for a child (curl, sleep) that does not end.
    hanging.write_text(f'#!/usr/bin/env bash\nsleep 30 &\necho $! > "{record}"\nwait\n')
    start = time.monotonic()
    try:
        assert verify("http://127.0.0.1:9", monitor=hanging, timeout_s=1) is False, "a monitor that hangs is a failure"
        assert time.monotonic() - start < 15, "verify should kill a hanging monitor after timeout_s"
        child = _sleep_pid(record)
        assert child is not None, "the stand-in monitor should have started its sleep (a broken test machine)"
        assert _ended_within(child), (
            "the killed monitor's child (its sleep) is still running: start the monitor in a process group of its "
            "own (start_new_session=True) and kill the whole group (os.killpg), not only bash")
        deadline = time.monotonic() + 5
        while _children() - before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _children() - before, (
            "the killed monitor is left as a zombie process: after killing its group, wait for it (proc.wait())")
    finally:
        _kill_recorded_sleep(record)


@pytest.mark.timeout(60)
def test_monitor_that_ignores_sigterm_is_still_stopped_at_timeout_s(tmp_path):
    record = tmp_path / "child.pid"
    # A monitor (and its sleep, which inherits the ignored signal) that SIGTERM does not stop.
    stubborn = tmp_path / "monitor.sh"
    stubborn.write_text(f'#!/usr/bin/env bash\ntrap "" TERM\nsleep 60 &\necho $! > "{record}"\nwait\n')
    outcome: list = []

    def check() -> None:
        try:
            outcome.append(verify("http://127.0.0.1:9", monitor=stubborn, timeout_s=1))
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            outcome.append(exc)

    worker = threading.Thread(target=check, daemon=True)
    try:
        start = time.monotonic()
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), (
            "verify is still waiting for a monitor that ignores SIGTERM long after timeout_s=1: a hang; kill "
            "the monitor's process group with SIGKILL, which no process can ignore")
        elapsed = time.monotonic() - start
        assert elapsed < 3, (
            f"verify took {elapsed:.1f} s with timeout_s=1: the whole run is bounded by timeout_s; a SIGTERM first "
            "is fine, with a second's grace at most before the SIGKILL, not two or more")
        if outcome and isinstance(outcome[0], Exception):
            raise outcome[0]
        assert outcome == [False], f"a monitor still running after timeout_s is a failed check; verify returned {outcome}"
        assert _ended_within(_sleep_pid(record)), (
            "the stopped monitor's sleep (it ignores SIGTERM) is still running: kill the whole group with SIGKILL")
    finally:  # this also ends a stuck verify
        _kill_recorded_sleep(record)
        worker.join(timeout=10)


@pytest.mark.timeout(60)
def test_child_that_ignores_sigterm_is_killed_even_when_bash_ends(tmp_path):
    record = tmp_path / "child.pid"
    # bash itself ends on SIGTERM; its child ignores SIGTERM and would live on after bash has gone.
    monitor = tmp_path / "monitor.sh"
    monitor.write_text(f'#!/usr/bin/env bash\n(trap "" TERM; exec sleep 60) &\necho $! > "{record}"\nwait\n')
    try:
        assert verify("http://127.0.0.1:9", monitor=monitor, timeout_s=1) is False, (
            "a monitor still running after timeout_s is a failed check")
        child = _sleep_pid(record)
        assert child is not None, "the stand-in monitor should have started its sleep (a broken test machine)"
        assert _ended_within(child), (
            "the stopped monitor's child ignores SIGTERM and is still running: bash ending on SIGTERM does not mean "
            "the group has ended; always finish with SIGKILL to the whole group (os.killpg(pid, SIGKILL))")
    finally:
        _kill_recorded_sleep(record)


@pytest.mark.timeout(60)
def test_monitor_that_exits_0_when_stopped_still_fails_the_check(tmp_path):
    record = tmp_path / "child.pid"
    # A monitor that ends cleanly on SIGTERM or SIGINT, the way a monitor loop shuts down: its exit code 0 then
    # means "I was stopped", not "the service is healthy".
    graceful = tmp_path / "monitor.sh"
    graceful.write_text(f'#!/usr/bin/env bash\ntrap "exit 0" TERM INT\nsleep 30 &\necho $! > "{record}"\nwait\n')
    try:
        assert verify("http://127.0.0.1:9", monitor=graceful, timeout_s=1) is False, (
            "a monitor still running after timeout_s is a failed check, whatever exit code it returns once it is "
            "stopped (this one exits 0 on SIGTERM): after the timeout the answer is False, not the stopped "
            "monitor's exit code")
    finally:
        _kill_recorded_sleep(record)


@pytest.mark.timeout(60)
def test_sigterm_grace_before_the_sigkill_is_a_second_at_most(tmp_path):
    record, shell, log = tmp_path / "child.pid", tmp_path / "bash.pid", tmp_path / "stopping.log"
    # A monitor that takes its time to shut down: on SIGTERM it keeps going and writes, every 0.05 s, when the
    # SIGTERM came and the time now (bash's own clock), until the SIGKILL ends it. It cannot write later than
    # the SIGKILL, so a slow machine only makes the grace it sees shorter.
    stopping = _monitor(tmp_path / "stopping", f'echo $$ > "{shell}"\ntrap \'stopped=$EPOCHREALTIME\' TERM\n'
                        f'sleep 30 &\necho $! > "{record}"\nwait\n'
                        f'while :; do printf "%s %s\\n" "$stopped" "$EPOCHREALTIME" >> "{log}"; sleep 0.05; done\n')
    try:
        assert verify("http://127.0.0.1:9", monitor=stopping, timeout_s=1) is False, (
            "a monitor still running after timeout_s is a failed check")
        lines = log.read_text().splitlines() if log.is_file() else []
        stamps = [line.replace(",", ".").split() for line in lines]
        grace = max((float(now) - float(sent) for sent, now in (s for s in stamps if len(s) == 2)), default=0.0)
        assert grace <= 1.25, (
            f"the monitor was still running {grace:.2f} s after its SIGTERM: a SIGTERM first is fine, with a "
            "second's grace at most before the SIGKILL to the whole group (timeout_s bounds the whole run)")
    finally:
        _kill_recorded_sleep(record)
        with contextlib.suppress(OSError, ValueError):  # never leave the stand-in's loop running
            pid = int(shell.read_text().strip())
            if _running(pid) and b"bash" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def _monitor(folder: Path, body: str) -> Path:
    """A stand-in monitor script (not executable: the contract runs it with bash)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "monitor.sh"
    script.write_text("#!/usr/bin/env bash\n" + body)
    script.chmod(0o644)
    return script


def test_monitor_gets_url_once_and_a_timeout_as_separate_arguments(tmp_path):
    folder = tmp_path / "monitor dir"  # a space in the path: only an argument list, no shell string, survives it
    record = folder / "args.txt"
    monitor = _monitor(folder, 'printf "%s\\n" "$@" > "${0%/*}/args.txt"\nexit 0\n')
    url = "http://127.0.0.1:9/?probe=1&x=$HOME"
    assert verify(url, monitor=monitor) is True, (
        "a monitor that exits 0 is a passing check; run it as bash <monitor> with a list of arguments, no shell")
    args = record.read_text().splitlines() if record.is_file() else []
    assert "--url" in args and args[args.index("--url") + 1:args.index("--url") + 2] == [url], (
        f"the monitor should get --url followed by the exact url {url!r}; it got {args}")
    assert "--once" in args, f"the monitor should get --once (one check, then exit); it got {args}"
    assert _timeout_argument(args) <= 10, (
        f"--timeout should be a number of seconds, at most timeout_s (its default, 10); it got {args}")
    record.unlink()
    verify(url, monitor=monitor, timeout_s=3)  # only the arguments matter here, not how fast the machine is
    args = record.read_text().splitlines() if record.is_file() else []
    assert _timeout_argument(args) <= 3, (
        f"with timeout_s=3 the monitor's own --timeout should be at most 3 seconds (it is killed at 3); it got {args}")
    for _ in range(3):  # below one second: a slow start may be killed before it records, so try a few times
        record.unlink(missing_ok=True)
        verify(url, monitor=monitor, timeout_s=0.9)
        if record.is_file():
            break
    args = record.read_text().splitlines() if record.is_file() else []
    # int(0.9) is 0, not a timeout: the monitor refuses it; rounding up to 1 is more than timeout_s
    assert _timeout_argument(args) <= 0.9, (
        f"with timeout_s=0.9 the monitor's own --timeout should be at most 0.9 seconds, not rounded up; it got {args}")


def test_monitor_timeout_is_never_rounded_up_past_timeout_s(tmp_path):
    folder = tmp_path / "monitor"
    record = folder / "args.txt"
    monitor = _monitor(folder, 'printf "%s\\n" "$@" > "${0%/*}/args.txt"\nexit 0\n')
    for timeout_s, rounded in ((2.96, "one decimal (:.1f, round(t, 1)) it becomes 3.0"),
                               (2.996, "two decimals (:.2f, round(t, 2)) it becomes 3.00"),
                               (2.9999999, "six significant digits (:g, %g) it becomes 3"),
                               (0.99999999, "six significant digits (:g, %g) it becomes 1")):
        for _ in range(3):  # only the arguments matter here; below a second a slow start may be killed first
            record.unlink(missing_ok=True)
            verify("http://127.0.0.1:9", monitor=monitor, timeout_s=timeout_s)
            if record.is_file():
                break
        args = record.read_text().splitlines() if record.is_file() else []
        assert _timeout_argument(args) <= timeout_s, (
            f"with timeout_s={timeout_s} the monitor's own --timeout should be at most {timeout_s} seconds: written "
            f"with {rounded}, more than timeout_s; it got {args}")


def test_monitor_timeout_stays_positive_below_a_tenth_of_a_second(tmp_path, monkeypatch):
    import subprocess

    # Below a tenth of a second bash may be killed before a monitor could record its arguments: record the argv
    # every process is started with instead (Popen, run and check_call all start it through _execute_child), and
    # still start it for real.
    started: list[list[str]] = []
    execute_child = subprocess.Popen._execute_child

    def recording(self, args, *rest, **kwargs):
        started.append([str(arg) for arg in args] if isinstance(args, (list, tuple)) else [str(args)])
        return execute_child(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", recording)
    healthy = _monitor(tmp_path / "tiny", "exit 0\n")
    verify("http://127.0.0.1:9", monitor=healthy, timeout_s=0.05)  # pass or fail: only its arguments matter here
    monitor_args = [argv[argv.index(str(healthy)) + 1:] for argv in started if str(healthy) in argv]
    assert monitor_args, f"verify should start bash {healthy} with its arguments; it started {started}"
    seconds = _timeout_argument(monitor_args[-1])
    assert seconds <= 0.05, (
        f"with timeout_s=0.05 the monitor's own --timeout should be a positive number of seconds at most 0.05; it got "
        f"{monitor_args[-1]}")


def _timeout_argument(args: list[str]) -> float:
    """The number after --timeout; fails the test when there is none or it is not a positive number."""
    assert "--timeout" in args, f"the monitor should get --timeout <seconds>; it got {args}"
    value = args[args.index("--timeout") + 1] if args.index("--timeout") + 1 < len(args) else ""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    assert seconds > 0, (
        f"--timeout should be a positive number of seconds (the monitor refuses 0; cut below a tenth of a second, "
        f"0.05 written in tenths is 0.0); it got {value!r}")
    return seconds


def test_healthy_monitor_that_prints_a_lot_passes_the_check(tmp_path):
    chatty = _monitor(tmp_path / "chatty", "head -c 1000000 /dev/zero | tr '\\0' o\n"
                      "head -c 1000000 /dev/zero | tr '\\0' e >&2\nexit 0\n")
    assert verify("http://127.0.0.1:9", monitor=chatty, timeout_s=10) is True, (
        "a monitor that prints a megabyte on stdout and stderr and exits 0 is a passing check: read or discard "
        "its output (a pipe nobody reads fills up, and the monitor stalls until it is killed)")


def test_monitor_that_exits_nonzero_or_cannot_be_found_fails_the_check(tmp_path):
    odd_exit = _monitor(tmp_path / "odd", "exit 3\n")
    assert verify("http://127.0.0.1:9", monitor=odd_exit, timeout_s=10) is False, (
        "only exit code 0 is healthy; a monitor exiting 3 is a failed check")
    missing = tmp_path / "no-such-monitor.sh"
    assert verify("http://127.0.0.1:9", monitor=missing, timeout_s=10) is False, (
        "a monitor that cannot be run (no such file) is a failed check, not a pass and not an exception")


def test_monitor_killed_by_a_signal_fails_the_check(tmp_path):
    killed = _monitor(tmp_path / "killed", "kill -KILL $$\n")
    assert verify("http://127.0.0.1:9", monitor=killed, timeout_s=10) is False, (
        "a monitor killed by a signal (the OOM killer, say) did not exit 0: a failed check. Popen's returncode is "
        "then negative (-9), so test `== 0`, not `<= 0` or `not returncode > 0`")


def test_monitor_whose_bash_cannot_be_started_fails_the_check(tmp_path, monkeypatch):
    failing = _monitor(tmp_path / "failing", "exit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))  # `bash` itself is not found
    assert verify("http://127.0.0.1:9", monitor=failing, timeout_s=10) is False, (
        "a monitor that cannot be started (here not even `bash` is on PATH: Popen raises FileNotFoundError, an "
        "OSError) is a failed check, not a pass and not an exception")


def test_monitor_whose_bash_is_not_executable_fails_the_check(tmp_path, monkeypatch):
    failing = _monitor(tmp_path / "failing", "exit 1\n")
    programs = tmp_path / "programs"
    programs.mkdir()
    unrunnable = programs / "bash"
    unrunnable.write_text("#!/bin/sh\nexit 0\n")
    unrunnable.chmod(0o644)  # found on PATH, but not executable: Popen raises PermissionError
    monkeypatch.setenv("PATH", str(programs))
    assert verify("http://127.0.0.1:9", monitor=failing, timeout_s=10) is False, (
        "a monitor that cannot be started (here the `bash` on PATH is not executable: Popen raises PermissionError, "
        "an OSError like FileNotFoundError) is a failed check, not an exception: catch OSError, not only "
        "FileNotFoundError")


def test_monitor_that_cannot_be_started_for_any_reason_fails_the_check(tmp_path):
    healthy = _monitor(tmp_path / "healthy", "exit 0\n")
    # One argument longer than the kernel takes (128 KiB): exec fails with E2BIG, an OSError that is neither
    # FileNotFoundError nor PermissionError.
    url = "http://127.0.0.1:9/?q=" + "x" * 200_000
    try:
        outcome = verify(url, monitor=healthy, timeout_s=10)
    except OSError as exc:
        pytest.fail(f"a monitor that cannot be started is a failed check (False), not an exception: catch OSError, "
                    f"not a list of its subclasses; verify raised {type(exc).__name__}: {exc}", pytrace=False)
    assert outcome is False, f"a monitor that could not be started did not exit 0: a failed check; verify returned {outcome!r}"


def test_fractional_timeout_s_is_waited_as_given(tmp_path):
    slow = _monitor(tmp_path / "slow", "sleep 0.7\nexit 0\n")
    assert verify("http://127.0.0.1:9", monitor=slow, timeout_s=0.4) is False, (
        "a monitor still running after timeout_s=0.4 is a failed check, even if it would pass at 0.7 s: wait "
        "timeout_s itself, a fraction of a second included, not rounded up to a whole second")
    answering = _monitor(tmp_path / "answering", "sleep 1.1\nexit 0\n")
    assert verify("http://127.0.0.1:9", monitor=answering, timeout_s=1.9) is True, (
        "a monitor that exits 0 after 1.1 s has answered within timeout_s=1.9 and passes the check: wait timeout_s "
        "itself, a fraction of a second included, not cut down to a whole second (int(1.9) is 1)")


@pytest.mark.parametrize("seconds", [1.5, 1.2])
def test_monitor_slower_than_timeout_s_fails_the_check(tmp_path, seconds):
    slow = _monitor(tmp_path / "slow", f"sleep {seconds}\nexit 0\n")
    assert verify("http://127.0.0.1:9", monitor=slow, timeout_s=1) is False, (
        f"a monitor still running after timeout_s=1 is a failed check, even if it would pass {seconds - 1:.1f} s "
        "later: wait timeout_s itself, not a fixed timeout and not timeout_s plus some slack for bash to start")


def _is_the_monitor(process) -> bool:
    """Whether a Popen runs the monitor's bash (not some other program the code under test starts)."""
    args = process.args if isinstance(process.args, (list, tuple)) else str(process.args).split()
    return bool(args) and Path(str(args[0])).name == "bash"


@pytest.mark.timeout(60)
def test_monitor_that_exits_0_just_as_timeout_s_runs_out_still_fails_the_check(tmp_path, monkeypatch):
    import subprocess

    # The race no timing can hit on purpose: the monitor exits 0 at the very moment timeout_s runs out, after the
    # wait has given up and before the kill lands. Forced here: the first bounded wait (Popen.wait or communicate)
    # on the monitor's bash lets it end (left unreaped, as the real race leaves it) and then reports the timeout.
    wait, communicate = subprocess.Popen.wait, subprocess.Popen.communicate
    raced: list[int] = []

    def time_runs_out(process, timeout) -> None:
        raced.append(process.pid)
        deadline = time.monotonic() + 10
        while _running(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        raise subprocess.TimeoutExpired(process.args, timeout)

    def runs_to_the_deadline(process, timeout) -> bool:
        # Only a wait meant to last until timeout_s (not a short wait inside a poll loop) and only the first one.
        return timeout is not None and timeout > 0.5 and _is_the_monitor(process) and not raced

    def late_wait(self, timeout=None):
        if runs_to_the_deadline(self, timeout):
            time_runs_out(self, timeout)
        return wait(self, timeout=timeout)

    def late_communicate(self, input=None, timeout=None):
        if runs_to_the_deadline(self, timeout):
            time_runs_out(self, timeout)
        return communicate(self, input, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", late_wait)
    monkeypatch.setattr(subprocess.Popen, "communicate", late_communicate)
    healthy = _monitor(tmp_path / "healthy", "exit 0\n")
    outcome = verify("http://127.0.0.1:9", monitor=healthy, timeout_s=1)
    if raced:  # a poll loop meets this race in the poll-loop tests below; asyncio meets none: nothing to judge here
        assert outcome is False, (
            "the wait for the monitor ran out at timeout_s=1, and the monitor ended with exit code 0 only just after, "
            "before the kill: once timeout_s has passed the answer is False, whatever exit code the stopped monitor "
            f"returns (return False after the kill, not `returncode == 0`); verify returned {outcome!r}")


def test_verify_waits_for_the_monitor_no_longer_than_timeout_s(tmp_path, monkeypatch):
    import subprocess

    # A slack of a tenth of a second is too small to see on a busy machine: record the timeout each wait on the
    # monitor's bash is given instead (Popen.wait, communicate, and subprocess.run, which calls communicate).
    asked: list[str] = []
    wait, communicate = subprocess.Popen.wait, subprocess.Popen.communicate

    def spy_wait(self, timeout=None):
        if timeout is not None and _is_the_monitor(self):
            asked.append(f"wait(timeout={timeout!r})")
        return wait(self, timeout=timeout)

    def spy_communicate(self, input=None, timeout=None):
        if timeout is not None and _is_the_monitor(self):
            asked.append(f"communicate(timeout={timeout!r})")
        return communicate(self, input, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", spy_wait)
    monkeypatch.setattr(subprocess.Popen, "communicate", spy_communicate)
    healthy = _monitor(tmp_path / "healthy", "exit 0\n")
    for timeout_s in (3, 12.5):
        asked.clear()
        assert verify("http://127.0.0.1:9", monitor=healthy, timeout_s=timeout_s) is True, (
            "a monitor that exits 0 at once is a passing check")
        longer = [call for call in asked if float(call.split("=")[1].rstrip(")")) > timeout_s]
        assert not longer, (
            f"with timeout_s={timeout_s} verify waited for the monitor with {', '.join(longer)}: wait timeout_s itself, "
            "with no slack added for bash to start (a monitor that exits 0 a little after timeout_s has failed the "
            "check)")


def test_timeout_s_defaults_to_ten_seconds(tmp_path):
    healthy = _monitor(tmp_path / "healthy", "exit 0\n")
    assert verify("http://127.0.0.1:9", monitor=healthy) is True, "a monitor that exits 0 is a passing check"
    default = inspect.signature(verify).parameters["timeout_s"].default
    assert default == 10, (
        f"verify(url, *, monitor, timeout_s=10.0): timeout_s should default to 10 seconds, not {default!r}")


def _poll_loop_sees_the_monitor_end_late(tmp_path, monkeypatch, timeout_s: float, late: float) -> tuple[bool, list]:
    """Run verify on a monitor that would run for ever, and force, for a poll loop, the race of a monitor that ends
    with exit code 0 `late` seconds after timeout_s: the loop's sleep that reaches timeout_s wakes late (as on a busy
    machine), and while it sleeps the monitor ends with 0 (left unreaped, as the real race leaves it), so the loop's
    first poll made after the deadline sees the exit. Code that waits another way (Popen.wait, communicate, asyncio)
    never releases the monitor: it sees a monitor that hangs. Returns verify's answer and what the poll calls saw."""
    import subprocess

    release = tmp_path / "release"
    hanging = _monitor(tmp_path / "late", f'until [ -e "{release}" ]; do sleep 0.01; done\nexit 0\n')
    poll, sleep = subprocess.Popen.poll, time.sleep
    watched: dict = {}  # the monitor's Popen and when the answer first polled it
    seen: list = []

    def watching_poll(self):
        if _is_the_monitor(self) and "process" not in watched:
            # The answer's deadline is set by now (before its first poll): it is at the latest first poll + timeout_s.
            watched.update(process=self, first_poll=time.monotonic())
        code = poll(self)
        if self is watched.get("process"):
            seen.append((round(time.monotonic() - watched["first_poll"], 3), code))
        return code

    def late_sleep(seconds):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        process = watched.get("process")
        if process is None or caller == "subprocess" or release.exists():  # Popen.wait's own sleeps are not judged
            return sleep(seconds)
        ends_at = time.monotonic() + max(seconds, 0)
        if ends_at < start + timeout_s:  # well before the deadline verify was given: an ordinary sleep
            return sleep(seconds)
        # This sleep reaches timeout_s: the monitor ends with 0 now, and the sleeper wakes `late` s after the deadline.
        release.touch()
        waited = time.monotonic() + 10
        while time.monotonic() < waited:
            with contextlib.suppress(ChildProcessError):
                if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    break  # ended, not reaped: the answer's next poll reaps it and sees the 0
            sleep(0.005)
        wake = max(ends_at, watched["first_poll"] + timeout_s + late)
        sleep(max(0.0, wake - time.monotonic()))

    monkeypatch.setattr(subprocess.Popen, "poll", watching_poll)
    monkeypatch.setattr(time, "sleep", late_sleep)
    start = time.monotonic()
    try:
        outcome = verify("http://127.0.0.1:9", monitor=hanging, timeout_s=timeout_s)
    finally:
        monkeypatch.undo()
        release.touch()  # a monitor verify left running ends by itself
    return outcome, seen


@pytest.mark.timeout(60)
def test_poll_loop_that_sees_the_monitor_end_just_after_timeout_s_fails_the_check(tmp_path, monkeypatch):
    outcome, seen = _poll_loop_sees_the_monitor_end_late(tmp_path, monkeypatch, timeout_s=1, late=0.3)
    assert outcome is False, (
        "the monitor ended with exit code 0 only after timeout_s=1 had run out (a poll loop whose sleep woke late saw "
        "it at its first poll after the deadline): once timeout_s has passed the answer is False, even a 0 from a "
        "monitor that ended just as timeout_s ran out; read the clock after each poll and take the exit code only "
        f"when that poll was within timeout_s, with no last look after the deadline; verify returned {outcome!r} "
        f"(the polls, as [seconds after the first poll, exit code]: {seen[-4:]})")


@pytest.mark.timeout(60)
def test_poll_loop_gives_up_at_timeout_s_with_no_slack(tmp_path, monkeypatch):
    outcome, seen = _poll_loop_sees_the_monitor_end_late(tmp_path, monkeypatch, timeout_s=1, late=0.05)
    assert outcome is False, (
        "the monitor ended with exit code 0 a twentieth of a second after timeout_s=1 (measured from verify's first "
        "poll of it, after bash had started): a poll loop should give up at timeout_s itself, with no slack added "
        f"for bash to start; verify returned {outcome!r} (the polls, as [seconds after the first poll, exit code]: "
        f"{seen[-4:]})")
