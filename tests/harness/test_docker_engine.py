"""The engine probe's reasons and the ownership labels (no engine needed)."""

import os
import subprocess
import sys

from mlops_katas import scratch
from mlops_katas.infra import docker_engine
from mlops_katas.infra.http_server import free_port


def probe_with(docker_host: str) -> str:
    """The probe's answer in a fresh process (the probe is cached once per run)."""
    env = {**os.environ, "DOCKER_HOST": docker_host}
    result = subprocess.run(
        [sys.executable, "-c", "from mlops_katas.infra.docker_engine import probe; print(probe())"],
        capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_probe_names_a_missing_socket_and_how_to_start_docker():
    # A short path: a unix socket path over 107 bytes fails for its length, not its absence.
    socket_path = scratch.system_tmp() / f"katas-no-such-{os.getpid()}.sock"
    reason = probe_with(f"unix://{socket_path}")
    assert f"no Docker socket at unix://{socket_path}" in reason, reason
    assert "start-docker.sh" in reason and "DOCKER_HOST" in reason, f"the reason should say how to fix it: {reason}"


def test_probe_names_an_address_where_nothing_listens():
    address = f"tcp://127.0.0.1:{free_port()}"
    reason = probe_with(address)
    assert reason.startswith("no Docker engine:") and address in reason, reason


def test_run_labels_name_the_session_process_and_host():
    labels = docker_engine.run_labels("tests/x.py::test_y")
    assert labels[docker_engine.MANAGED] == "true"
    assert labels[docker_engine.SESSION] == docker_engine.SESSION_ID
    assert labels[docker_engine.PID] == str(os.getpid())
    assert labels[docker_engine.HOST]
    assert labels[docker_engine.TEST] == "tests/x.py::test_y"
    assert docker_engine.owner_alive(labels), "this very process is alive"


def test_a_dead_or_recycled_owner_is_recognised():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=30)
    labels = docker_engine.run_labels()
    assert not docker_engine.owner_alive({**labels, docker_engine.PID: str(finished.pid)}), "an exited pid is dead"
    assert not docker_engine.owner_alive({**labels, docker_engine.PID: "not-a-pid"}), "a garbled label counts as dead"
    if labels[docker_engine.PID_START]:
        recycled = {**labels, docker_engine.PID_START: str(int(labels[docker_engine.PID_START]) + 1)}
        assert not docker_engine.owner_alive(recycled), "a live pid with another start time is a recycled pid"
