"""Evidence through docker's high-level API and http.client; judged by a table of rules."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy

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


def _oom(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    if state.get("OOMKilled") is True:
        return f"killed for memory (OOMKilled), ExitCode={state.get('ExitCode')}"
    return None


def _crash_loop(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    count = s.inspect.get("RestartCount") or 0
    if count >= 3 or state.get("Restarting"):
        return f"RestartCount={count}, Restarting={state.get('Restarting')}"
    return None


def _exited(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    if not state.get("Running") and not state.get("Restarting"):
        return f"Status={state.get('Status')}, ExitCode={state.get('ExitCode')}"
    return None


def _unreachable(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    if s.health.status is None:
        return f"no answer from /health ({s.health.error})"
    return None


def _unhealthy(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    reasons = []
    if s.health.status is not None and s.health.status != 200:
        reasons.append(f"/health answered HTTP {s.health.status}")
    if state.get("Health", {}).get("Status") == "unhealthy":
        reasons.append("docker HEALTHCHECK reports unhealthy")
    return "; ".join(reasons) or None


def _slow(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    reasons = []
    if s.health.latency_ms is not None and s.health.latency_ms > slow_ms:
        reasons.append(f"/health took {s.health.latency_ms:.0f} ms")
    if len(s.latency_ms) > 0:
        p95 = numpy.percentile(numpy.array(s.latency_ms, dtype=float), 95)
        if p95 > slow_ms:
            reasons.append(f"p95 of {len(s.latency_ms)} stored samples is {p95:.0f} ms")
    return "; ".join(reasons) + f" > {slow_ms:g} ms" if reasons else None


def _error_logs(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    last = None
    for line in s.logs.splitlines():
        lowered = line.lower()
        if any(word in lowered for word in ERROR_WORDS):
            last = line
    return f"last error line: {last}" if last is not None else None


RULES: list[tuple[str, Callable[[Snapshot, dict, float], str | None]]] = [
    ("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited), ("unreachable", _unreachable),
    ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs),
]


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container {snapshot.container} in docker")]
    state = snapshot.inspect["State"]
    findings = []
    for cause, rule in RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            findings.append(Finding(cause, evidence))
    findings.sort(key=lambda f: CAUSES.index(f.cause))
    if not findings:
        findings = [Finding("healthy", "checked state, restarts, /health status and latency, stored p95, logs")]
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path.rstrip("/") + "/health"
    conn = conn_type(parts.hostname, parts.port, timeout=timeout_s)
    try:
        began = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        took = (time.monotonic() - began) * 1000.0
        return HealthCheck(response.status, took)
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
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
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", errors="replace")
    health = check_health(url, timeout_s=timeout_s)
    latency: tuple[float, ...] = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
