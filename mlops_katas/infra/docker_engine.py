"""The Docker engine: one probe per run, one shared client, and who owns what.

The probe asks the daemon itself (`ping`), because a `docker` binary on PATH says
nothing about whether a daemon answers. Its answer is one line that names the cause
and the fix, which the docker tier turns into a skip (or a failure under
`--require docker`).

Everything the harness creates in Docker carries the labels of `run_labels()`: the
run's session id, the pytest process id (with its start time, so a recycled pid is
not mistaken for a live run) and the host. `containers.reap()` uses them to remove
what a killed run left behind and what this run failed to remove.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import uuid
from pathlib import Path

from ..scratch import stat_fields

LABEL = "org.mlops-katas"
MANAGED = f"{LABEL}.managed"
SESSION = f"{LABEL}.session"
PID = f"{LABEL}.pid"
PID_START = f"{LABEL}.pid-start"
HOST = f"{LABEL}.host"
CHECKOUT = f"{LABEL}.checkout"
TEST = f"{LABEL}.test"

SESSION_ID = uuid.uuid4().hex[:12]
# Which checkout's harness built an image: pruning touches only this checkout's images,
# never those of another clone of the course on the same engine.
CHECKOUT_ID = hashlib.sha1(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:12]
API_TIMEOUT_S = 30


def process_start(pid: int) -> str:
    """When a process started (clock ticks since boot; '' where /proc is not available)."""
    fields = stat_fields(f"/proc/{pid}/stat")
    return fields[19] if len(fields) > 19 else ""


def run_labels(test: str | None = None) -> dict[str, str]:
    """Labels for anything this run creates in Docker; `test` is the requesting test's node id."""
    labels = {
        MANAGED: "true",
        SESSION: SESSION_ID,
        PID: str(os.getpid()),
        PID_START: process_start(os.getpid()),
        HOST: socket.gethostname(),
        CHECKOUT: CHECKOUT_ID,
    }
    if test:
        labels[TEST] = test
    return labels


def owner_alive(labels: dict[str, str]) -> bool:
    """Is the pytest process that created a resource with these labels still running?"""
    try:
        pid = int(labels.get(PID, ""))
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    started = labels.get(PID_START, "")
    return not started or process_start(pid) in ("", started)


def _endpoint() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _reason(exc: Exception) -> str:
    """Why the engine did not answer, in one line that says what to do."""
    text = f"{exc.__class__.__name__}: {exc}"
    endpoint = _endpoint()
    if "FileNotFoundError" in text or "No such file" in text:
        cause = f"no Docker socket at {endpoint}"
    elif "PermissionError" in text or "Permission denied" in text:
        cause = f"permission denied on {endpoint} (add your user to the 'docker' group, then log in again)"
    elif "Connection refused" in text or "ConnectionRefused" in text:
        cause = f"nothing listens at {endpoint}"
    elif "timed out" in text.lower() or "Timeout" in text:
        cause = f"{endpoint} did not answer within a few seconds"
    else:
        cause = f"{endpoint} did not answer ({exc.__class__.__name__})"
    return (f"no Docker engine: {cause}; start Docker (Docker Desktop, or `sudo scripts/start-docker.sh` "
            "on Debian/Ubuntu) or fix DOCKER_HOST ('katas doctor')")


def _try_connect():
    """(client, None) when the engine answers now, else (None, reason)."""
    try:
        import docker
    except ImportError:
        return None, "the Python package 'docker' is not installed (pip install -e .)"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:
        return None, _reason(exc)
    client.api.timeout = API_TIMEOUT_S
    return client, None


_connect = functools.cache(_try_connect)  # asked once per run: every test shares the answer


def probe() -> str | None:
    """None when a Docker engine answers, else why not and how to fix it."""
    return _connect()[1]


def probe_now() -> str | None:
    """Like `probe`, but asks the engine again: has it gone away since the run started?"""
    client, reason = _try_connect()
    if client is not None:
        client.close()
    return reason


def get_client():
    """The run's shared `docker.DockerClient`; raises RuntimeError with the probe's reason."""
    client, reason = _connect()
    if client is None:
        raise RuntimeError(reason)
    return client


def connected() -> bool:
    """Has this run already reached the engine (without trying to now)?"""
    return _connect.cache_info().currsize > 0 and _connect()[0] is not None
