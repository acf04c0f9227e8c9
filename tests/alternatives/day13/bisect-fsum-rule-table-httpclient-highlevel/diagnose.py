"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Every cause analyse() may report, most likely root cause first: findings come in this order.
CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")


@dataclass(frozen=True)
class HealthCheck:
    """What one GET {url}/health did."""

    status: int | None  # the HTTP status; None when there was no answer
    latency_ms: float | None  # how long the answer took; None when there was no answer
    error: str | None = None  # why there was no answer (refused, timed out, ...)


@dataclass(frozen=True)
class Snapshot:
    """Everything known about one container at one moment."""

    container: str  # the name or id that was asked about
    inspect: dict | None  # `docker inspect` of it; None when Docker has no such container
    logs: str  # its last log lines (stdout and stderr)
    health: HealthCheck
    latency_ms: tuple[float, ...] = ()  # recent latency samples from the monitoring store


@dataclass(frozen=True)
class Finding:
    cause: str  # one of CAUSES
    evidence: str  # the facts that show it, for the human on call


class MetricStore(Protocol):
    """What diagnose needs from the day-11 ModelPerformanceMonitor."""

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]: ...


import http.client
import time
import urllib.parse

import numpy

ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


def _oom(state, inspect, health, samples, slow_ms):
    if state.get("OOMKilled") is True:
        return f"the kernel killed it for memory (OOMKilled), exit code {state.get('ExitCode')}"


def _crash_loop(state, inspect, health, samples, slow_ms):
    count = inspect.get("RestartCount") or 0
    if count >= 3 or state.get("Restarting"):
        return f"Docker restarted it {count} times"


def _exited(state, inspect, health, samples, slow_ms):
    if not (state.get("Running") or state.get("Restarting")):
        return f"not running (status {state.get('Status')}), exit code {state.get('ExitCode')}"


def _unreachable(state, inspect, health, samples, slow_ms):
    if health.status is None:
        return f"no answer from /health: {health.error}"


def _unhealthy(state, inspect, health, samples, slow_ms):
    reasons = []
    if health.status is not None and health.status != 200:
        reasons.append(f"/health answered HTTP {health.status}")
    docker_health = state.get("Health")
    if docker_health and docker_health.get("Status") == "unhealthy":
        reasons.append(f"Docker HEALTHCHECK unhealthy ({docker_health.get('FailingStreak')} failures in a row)")
    return "; ".join(reasons) or None


def _slow(state, inspect, health, samples, slow_ms):
    reasons = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        reasons.append(f"/health answered in {health.latency_ms:.0f} ms")
    if len(samples) > 0:
        p95 = numpy.percentile(numpy.asarray(samples, dtype=float), 95)
        if p95 > slow_ms:
            reasons.append(f"p95 of {len(samples)} stored samples is {p95:.0f} ms")
    if reasons:
        return ", ".join(reasons) + f", over the {slow_ms:.0f} ms budget"


RULES = (("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited), ("unreachable", _unreachable),
         ("unhealthy", _unhealthy), ("slow", _slow))


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong."""
    inspect = snapshot.inspect
    if inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    state = inspect.get("State") or {}
    findings = []
    for cause, rule in RULES:
        evidence = rule(state, inspect, snapshot.health, snapshot.latency_ms, slow_ms)
        if evidence:
            findings.append(Finding(cause, evidence))
    last_error = None
    for line in snapshot.logs.split("\n"):
        lowered = line.lower()
        if any(word in lowered for word in ERROR_WORDS):
            last_error = line
    if last_error is not None:
        findings.append(Finding("error_logs", f"last error line: {last_error}"))
    findings.sort(key=lambda f: CAUSES.index(f.cause))
    if not findings:
        findings.append(Finding("healthy", "checked: state running, restarts, /health status and latency, logs"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (http.client never follows redirects); never raises for a broken server."""
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path.rstrip("/") or "") + "/health"
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout_s)
    started = time.monotonic()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
    finally:
        conn.close()
    return HealthCheck(status, (time.monotonic() - started) * 1000.0)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot through docker's high-level API."""
    from docker import from_env
    from docker.errors import NotFound

    docker_client = client if client is not None else from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", errors="replace")
    health = check_health(url, timeout_s=timeout_s)
    latency: list[float] = []
    if metrics is not None:
        for row in metrics.get_recent_metrics("latency_ms", hours=hours):
            latency.append(row["value"])
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=tuple(latency))


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse()."""
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
