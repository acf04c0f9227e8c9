"""Diagnosis with http.client for the probe and docker's high-level containers API; one judge per cause."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Protocol

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


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


def _p95(values) -> float:
    ordered = sorted(float(v) for v in values)
    position = 0.95 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _oom(snap, state, slow_ms):
    if state.get("OOMKilled"):
        return f"the kernel OOM-killed it (State.OOMKilled), ExitCode={state.get('ExitCode')}"


def _crash_loop(snap, state, slow_ms):
    count = snap.inspect.get("RestartCount", 0)
    if count >= 3 or state.get("Restarting"):
        return f"Docker restarted it {count} times (Restarting={state.get('Restarting')})"


def _exited(snap, state, slow_ms):
    if not state.get("Running") and not state.get("Restarting"):
        return f"not running (Status={state.get('Status')}), ExitCode={state.get('ExitCode')}"


def _unreachable(snap, state, slow_ms):
    if snap.health.status is None:
        return f"no answer from /health: {snap.health.error}"


def _unhealthy(snap, state, slow_ms):
    parts = []
    if snap.health.status is not None and snap.health.status != 200:
        parts.append(f"/health answered HTTP {snap.health.status}")
    health = state.get("Health")
    if health and health.get("Status") == "unhealthy":
        parts.append("the Docker HEALTHCHECK status is unhealthy")
    return " and ".join(parts) or None


def _slow(snap, state, slow_ms):
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        return f"/health answered in {snap.health.latency_ms:.0f} ms > {slow_ms} ms"
    if snap.latency_ms:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            return f"p95 of {len(snap.latency_ms)} stored samples is {p95:.0f} ms > {slow_ms} ms"


def _error_logs(snap, state, slow_ms):
    last = None
    for line in snap.logs.split("\n"):
        lowered = line.lower()
        if any(word in lowered for word in ERROR_WORDS):
            last = line
    return last


JUDGES: dict[str, Callable] = {"oom_killed": _oom, "crash_loop": _crash_loop, "exited": _exited,
                               "unreachable": _unreachable, "unhealthy": _unhealthy, "slow": _slow,
                               "error_logs": _error_logs}


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named or with id {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    found = []
    for cause in CAUSES:
        judge = JUDGES.get(cause)
        if judge is not None:
            evidence = judge(snapshot, state, slow_ms)
            if evidence is not None:
                found.append(Finding(cause, evidence))
    return found or [Finding("healthy", "checked: state, restarts, /health status and latency, stored p95, logs")]


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    path = parts.path + "/health" + (f"?{parts.query}" if parts.query else "")
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname, parts.port, timeout=timeout_s)
    try:
        started = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        elapsed = time.monotonic() - started
        return HealthCheck(response.status, elapsed * 1000.0)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return HealthCheck(None, None, repr(exc))
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    from docker import errors, from_env

    docker_client = client if client is not None else from_env()
    try:
        found = docker_client.containers.get(container)
    except errors.NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    probe = check_health(url, timeout_s=timeout_s)
    latency: tuple = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=probe, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
