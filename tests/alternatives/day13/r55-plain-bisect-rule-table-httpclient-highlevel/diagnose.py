"""Why is the model server down or slow? Rules table + http.client probe + docker's high-level API."""

from __future__ import annotations

import http.client
import math
import time
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import urlsplit

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

_WORDS = ("error", "exception", "traceback", "fatal", "panic")


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
    ordered = sorted(float(s) for s in samples)
    position = (len(ordered) - 1) * 0.95
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _oom(snap, state, slow_ms):
    if state.get("OOMKilled") is True:
        return f"killed for memory (OOMKilled), exit code {state.get('ExitCode')}"


def _crash_loop(snap, state, slow_ms):
    count = snap.inspect.get("RestartCount", 0)
    if count >= 3 or state.get("Restarting"):
        return f"RestartCount={count}, Restarting={state.get('Restarting')}"


def _exited(snap, state, slow_ms):
    if not state.get("Running") and not state.get("Restarting"):
        return f"not running (Status={state.get('Status')}), ExitCode={state.get('ExitCode')}"


def _unreachable(snap, state, slow_ms):
    if snap.health.status is None:
        return f"no answer from /health: {snap.health.error!r}"


def _unhealthy(snap, state, slow_ms):
    status = snap.health.status
    docker_says = (state.get("Health") or {}).get("Status")
    reasons = []
    if status is not None and status != 200:
        reasons.append(f"/health answered HTTP {status}")
    if docker_says == "unhealthy":
        reasons.append(f"Docker HEALTHCHECK reports {docker_says} (/health answered {status})")
    return ", ".join(reasons) or None


def _slow(snap, state, slow_ms):
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        return f"/health answered in {snap.health.latency_ms:.0f} ms > {slow_ms} ms"
    if snap.latency_ms:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            return f"stored latency p95 {p95:.0f} ms > {slow_ms} ms over {len(snap.latency_ms)} samples"


def _error_logs(snap, state, slow_ms):
    last = None
    for line in snap.logs.splitlines():
        lowered = line.lower()
        if any(word in lowered for word in _WORDS):
            last = line
    return None if last is None else last.strip()


_RULES: list[tuple[str, Callable]] = [
    ("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited), ("unreachable", _unreachable),
    ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs),
]


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named or with id {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    findings = []
    for cause, rule in _RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            findings.append(Finding(cause, evidence))
    if not findings:
        findings = [Finding("healthy", "checked: docker state, restarts, /health status and latency, "
                                       "stored p95, log lines")]
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/health"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        started = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        took_ms = (time.monotonic() - started) * 1000.0
        return HealthCheck(response.status, took_ms)
    except (OSError, http.client.HTTPException, ValueError) as exc:
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
    health = check_health(url, timeout_s=timeout_s)
    latency = () if metrics is None else tuple(
        row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, health, latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
