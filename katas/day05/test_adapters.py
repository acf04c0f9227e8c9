"""Task 1: the two doors to the outside world, a bounded command and a bounded HTTP probe.

Real processes and a real HTTP server on loopback: timeouts only mean something against
things that can actually hang.
"""

import subprocess
import sys
import time

import pytest

from deploy_automation import http_health_check, run_command
from mlops_katas.infra.http_server import ControlledServer, free_port

pytestmark = pytest.mark.task(taskno=1)


def test_run_command_returns_exit_code_and_output():
    done = run_command([sys.executable, "-c", "import sys; print('built'); print('warn', file=sys.stderr); sys.exit(3)"], 10)
    assert done.returncode == 3, "run_command should report the program's exit code, not raise on a non-zero one"
    assert done.stdout.strip() == "built", "run_command should capture standard output as text"
    assert "warn" in done.stderr, "run_command should capture standard error as text"


def test_run_command_does_not_use_a_shell():
    done = run_command([sys.executable, "-c", "import sys; print(sys.argv[1])", "$HOME; echo injected"], 10)
    assert done.stdout.strip() == "$HOME; echo injected", (
        "arguments should reach the program unchanged, not be interpreted by a shell"
    )


def test_run_command_gives_up_at_the_timeout():
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_command([sys.executable, "-c", "import time; time.sleep(8)"], 0.5)
    assert time.monotonic() - started < 5, "run_command should stop a program that runs past its timeout"


@pytest.mark.parametrize("timeout", [0, -1])
def test_run_command_rejects_a_non_positive_timeout(timeout):
    with pytest.raises(ValueError):
        run_command([sys.executable, "-c", "pass"], timeout)


def test_health_check_is_true_for_a_healthy_server():
    with ControlledServer("healthy") as server:
        assert http_health_check(f"{server.url}/health", 2) is True, "a 200 from /health means healthy"
        assert ("GET", "/health") in server.requests, "the probe should GET the URL it was given"


@pytest.mark.parametrize("status", [500, 503])
def test_health_check_is_false_for_an_error_status(status):
    with ControlledServer("failing") as server:
        server.set("failing", status=status)
        assert http_health_check(f"{server.url}/health", 2) is False, f"a {status} answer means unhealthy"


def test_health_check_is_false_when_nothing_listens():
    assert http_health_check(f"http://127.0.0.1:{free_port()}/health", 2) is False, (
        "a refused connection means unhealthy, not an exception"
    )


@pytest.mark.timeout(15)
def test_health_check_gives_up_on_a_slow_server_at_its_timeout():
    with ControlledServer("slow", delay_s=8) as server:
        started = time.monotonic()
        healthy = http_health_check(f"{server.url}/health", 0.5)
        waited = time.monotonic() - started
    assert healthy is False, "a server that does not answer within the timeout is unhealthy"
    assert waited < 5, f"the probe waited {waited:.1f} s for an 8 s answer; it should stop at its 0.5 s timeout"
