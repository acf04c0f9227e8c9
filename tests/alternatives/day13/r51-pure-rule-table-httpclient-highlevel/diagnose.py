"""Why is the model server down or slow? (http.client probe, high-level docker API, rule functions)."""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")


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


ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


def _p95(samples) -> float:
    ordered = sorted(float(s) for s in samples)
    virtual = (len(ordered) - 1) * 0.95
    lo = int(virtual)
    hi = min(lo + 1, len(ordered) - 1)
    t = virtual - lo
    return ordered[lo] + (ordered[hi] - ordered[lo]) * t


def _oom(state, inspect, snap, slow_ms):
    if state.get("OOMKilled") is True:
        return f"killed for memory (OOMKilled), ExitCode={state.get('ExitCode')}"


def _crash_loop(state, inspect, snap, slow_ms):
    restarts = inspect.get("RestartCount") or 0
    if restarts >= 3 or state.get("Restarting"):
        return f"RestartCount={restarts}" + (" and Docker is restarting it" if state.get("Restarting") else "")


def _exited(state, inspect, snap, slow_ms):
    if not state.get("Running", False) and not state.get("Restarting", False):
        return f"State.Status={state.get('Status')}, ExitCode={state.get('ExitCode')}"


def _unreachable(state, inspect, snap, slow_ms):
    if snap.health.status is None:
        return f"no answer from /health: {snap.health.error}"


def _unhealthy(state, inspect, snap, slow_ms):
    said = []
    if snap.health.status is not None and snap.health.status != 200:
        said.append(f"/health answered HTTP {snap.health.status}")
    if (state.get("Health") or {}).get("Status") == "unhealthy":
        said.append("Docker HEALTHCHECK status: unhealthy")
    return ", ".join(said) or None


def _slow(state, inspect, snap, slow_ms):
    said = []
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        said.append(f"/health answered in {snap.health.latency_ms:.0f} ms")
    if len(snap.latency_ms) > 0:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            said.append(f"p95 of {len(snap.latency_ms)} stored samples is {p95:.0f} ms")
    return ", ".join(said) or None


def _error_logs(state, inspect, snap, slow_ms):
    last = None
    for line in snap.logs.splitlines():
        lowered = line.lower()
        if any(word in lowered for word in ERROR_WORDS):
            last = line
    return None if last is None else last.strip()


RULES = (("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited), ("unreachable", _unreachable),
         ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs))


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container {snapshot.container} in Docker")]
    inspect = snapshot.inspect
    state = inspect.get("State", {})
    found = []
    for cause, rule in RULES:
        evidence = rule(state, inspect, snapshot, slow_ms)
        if evidence is not None:
            found.append(Finding(cause, evidence))
    if found:
        return found
    return [Finding("healthy", "checked: container state, restarts, Docker healthcheck, /health status and "
                               "latency, stored p95 latency, log lines")]


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/") + "/health"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        started = time.monotonic()
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        took = (time.monotonic() - started) * 1000.0
        return HealthCheck(response.status, took)
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    health = check_health(url, timeout_s)
    latency: tuple = ()
    if metrics is not None:
        latency = tuple([row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours)])
    return Snapshot(container, inspect, logs, health, latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
