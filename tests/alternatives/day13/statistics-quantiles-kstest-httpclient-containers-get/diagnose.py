"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
import http.client
import statistics
import time
import urllib.parse
from typing import Callable, Optional, Protocol

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


ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


def _p95(samples) -> float:
    values = [float(v) for v in samples]
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _oom(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    if state.get("OOMKilled", False):
        return f"the kernel OOM-killed it (State.OOMKilled), exit code {state.get('ExitCode')}"
    return None


def _crash_loop(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    count = s.inspect.get("RestartCount", 0)
    if count >= 3 or state.get("Restarting", False):
        return f"Docker restarted it {count} times (State.Restarting={state.get('Restarting', False)})"
    return None


def _exited(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    if state.get("Running", False) or state.get("Restarting", False):
        return None
    return f"State.Status {state.get('Status')!r}, exit code {state.get('ExitCode')}"


def _unreachable(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    return f"no answer from /health: {s.health.error}" if s.health.status is None else None


def _unhealthy(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    reasons = []
    if s.health.status is not None and s.health.status != 200:
        reasons.append(f"/health answered HTTP {s.health.status}")
    if state.get("Health", {}).get("Status") == "unhealthy":
        reasons.append(f"Docker HEALTHCHECK reports unhealthy (/health answered {s.health.status})")
    return " and ".join(reasons) or None


def _slow(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    reasons = []
    if s.health.latency_ms is not None and s.health.latency_ms > slow_ms:
        reasons.append(f"/health answered in {s.health.latency_ms:.0f} ms")
    if s.latency_ms:
        p95 = _p95(s.latency_ms)
        if p95 > slow_ms:
            reasons.append(f"p95 of {len(s.latency_ms)} stored samples is {p95:.0f} ms")
    return (", ".join(reasons) + f", over {slow_ms} ms") if reasons else None


def _error_logs(s: Snapshot, state: dict, slow_ms: float) -> Optional[str]:
    for line in reversed(s.logs.splitlines()):
        lowered = line.lower()
        if any(word in lowered for word in ERROR_WORDS):
            return line
    return None


RULES: dict[str, Callable[[Snapshot, dict, float], Optional[str]]] = {
    "oom_killed": _oom, "crash_loop": _crash_loop, "exited": _exited, "unreachable": _unreachable,
    "unhealthy": _unhealthy, "slow": _slow, "error_logs": _error_logs,
}


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    findings = []
    for cause in CAUSES:
        rule = RULES.get(cause)
        if rule is None:
            continue
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            findings.append(Finding(cause, evidence))
    if not findings:
        findings.append(Finding("healthy", "checked: container state, restarts, /health status and latency, "
                                           "stored latency, log lines"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url.rstrip("/") + "/health")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout_s)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        began = time.monotonic()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        took = (time.monotonic() - began) * 1000.0
        return HealthCheck(response.status, took)
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
    finally:
        connection.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    from docker import from_env
    from docker.errors import NotFound

    docker_client = client if client is not None else from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        raw = found.logs(stdout=True, stderr=True, tail=log_lines)
        logs = raw.decode("utf-8", "replace")
    health = check_health(url, timeout_s=timeout_s)
    latency = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics(name="latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
