"""Day 07 task 3: the monitor check, with the day-06 reference monitor against a real HTTP server."""

from __future__ import annotations

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


def test_hanging_monitor_is_a_failed_check_within_the_timeout(tmp_path):
    hanging = tmp_path / "monitor.sh"
    hanging.write_text("#!/usr/bin/env bash\nsleep 30\n")
    start = time.monotonic()
    assert verify("http://127.0.0.1:9", monitor=hanging, timeout_s=1) is False, "a monitor that hangs is a failure"
    assert time.monotonic() - start < 15, "verify should kill a hanging monitor after timeout_s"


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
    assert verify(url, monitor=monitor, timeout_s=10) is True, (
        "a monitor that exits 0 is a passing check; run it as bash <monitor> with a list of arguments, no shell")
    args = record.read_text().splitlines() if record.is_file() else []
    assert "--url" in args and args[args.index("--url") + 1:args.index("--url") + 2] == [url], (
        f"the monitor should get --url followed by the exact url {url!r}; it got {args}")
    assert "--once" in args, f"the monitor should get --once (one check, then exit); it got {args}"
    assert "--timeout" in args, f"the monitor should get --timeout <seconds>; it got {args}"
    value = args[args.index("--timeout") + 1] if args.index("--timeout") + 1 < len(args) else ""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    assert 0 < seconds <= 10, f"--timeout should be a number of seconds, at most timeout_s=10; it got {value!r}"


def test_monitor_that_exits_nonzero_or_cannot_be_found_fails_the_check(tmp_path):
    odd_exit = _monitor(tmp_path / "odd", "exit 3\n")
    assert verify("http://127.0.0.1:9", monitor=odd_exit, timeout_s=10) is False, (
        "only exit code 0 is healthy; a monitor exiting 3 is a failed check")
    missing = tmp_path / "no-such-monitor.sh"
    assert verify("http://127.0.0.1:9", monitor=missing, timeout_s=10) is False, (
        "a monitor that cannot be run (no such file) is a failed check, not a pass and not an exception")


def test_monitor_slower_than_timeout_s_fails_the_check(tmp_path):
    slow = _monitor(tmp_path / "slow", "sleep 4\nexit 0\n")
    assert verify("http://127.0.0.1:9", monitor=slow, timeout_s=1) is False, (
        "a monitor still running after timeout_s=1 is a failed check, even if it would pass later: "
        "use timeout_s, not a fixed timeout")
