"""Day 07 task 3: the monitor check, with the day-06 reference monitor against a real HTTP server."""

from __future__ import annotations

import time

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
