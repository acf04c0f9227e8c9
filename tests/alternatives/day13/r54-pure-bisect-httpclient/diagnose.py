"""Why is the model server down or slow? (http.client + rule table style)"""

from __future__ import annotations

import http.client
import math
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

_ERROR_LINE = re.compile(r"(?i)error|exception|traceback|fatal|panic")


@dataclass(frozen=True)
class HealthCheck:
    status: int | None
    latency_ms: float | None
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    container: str
    inspect: dict | None
    logs: str
    health: HealthCheck
    latency_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Finding:
    cause: str
    evidence: str


class MetricStore(Protocol):
    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]: ...


def _p95(samples) -> float:
    ordered = sorted(float(v) for v in samples)
    position = (len(ordered) - 1) * 0.95
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _oom(snap, state, slow_ms) -> Optional[str]:
    if state.get("OOMKilled") is True:
        return f"killed for memory (State.OOMKilled), exit code {state.get('ExitCode')}"
    return None


def _crash_loop(snap, state, slow_ms) -> Optional[str]:
    count = snap.inspect.get("RestartCount") or 0
    if count >= 3 or state.get("Restarting"):
        return f"Docker restarted it {count} times" + (" and is restarting it now" if state.get("Restarting") else "")
    return None


def _exited(snap, state, slow_ms) -> Optional[str]:
    if not state.get("Running") and not state.get("Restarting"):
        return f"the container is {state.get('Status')}, exit code {state.get('ExitCode')}"
    return None


def _unreachable(snap, state, slow_ms) -> Optional[str]:
    if snap.health.status is None:
        return f"no answer from /health: {snap.health.error}"
    return None


def _unhealthy(snap, state, slow_ms) -> Optional[str]:
    said = []
    if snap.health.status is not None and snap.health.status != 200:
        said.append(f"/health answered HTTP {snap.health.status}")
    docker_says = (state.get("Health") or {}).get("Status")
    if docker_says == "unhealthy":
        said.append(f"the Docker healthcheck reports {docker_says}")
    return " and ".join(said) or None


def _slow(snap, state, slow_ms) -> Optional[str]:
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        return f"/health took {snap.health.latency_ms:.0f} ms, over {slow_ms} ms"
    if len(snap.latency_ms) > 0:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            return f"p95 of {len(snap.latency_ms)} stored samples is {p95:.0f} ms, over {slow_ms} ms"
    return None


def _error_logs(snap, state, slow_ms) -> Optional[str]:
    last = None
    for line in snap.logs.splitlines():
        if _ERROR_LINE.search(line):
            last = line
    return None if last is None else last.strip()


_RULES: tuple[tuple[str, Callable], ...] = (
    ("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited), ("unreachable", _unreachable),
    ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs),
)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no such container: {snapshot.container}")]
    state = snapshot.inspect.get("State") or {}
    found = []
    for cause, rule in _RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            found.append(Finding(cause, evidence))
    return found or [Finding("healthy", "running, not restarting, /health answered 200 within budget, "
                                        "stored p95 within budget, no error lines in the log")]


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    path = parts.path + "/health"
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - a malformed url is no answer either
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    try:
        started = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        took_ms = (time.monotonic() - started) * 1000.0
        return HealthCheck(response.status, took_ms)
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        conn.close()


def _docker_view(client, container: str, log_lines: int):
    import docker

    try:
        inspect = client.api.inspect_container(container)
    except docker.errors.NotFound:
        return None, ""
    if log_lines <= 0:
        return inspect, ""
    try:
        raw = client.api.logs(container, stdout=True, stderr=True, tail=log_lines)
    except docker.errors.NotFound:  # removed between the two calls
        return None, ""
    return inspect, bytes(raw).decode("utf-8", "replace")


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    if client is None:
        import docker

        client = docker.from_env()
    inspect, logs = _docker_view(client, container, log_lines)
    health = check_health(url, timeout_s=timeout_s)
    values = []
    if metrics is not None:
        for row in metrics.get_recent_metrics("latency_ms", hours=hours):
            values.append(row["value"])
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=tuple(values))


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
