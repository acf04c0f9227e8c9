"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
import http.client
import math
import time
import urllib.parse
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


_ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


def _p95(samples) -> float:
    ordered = sorted(float(v) for v in samples)
    position = (len(ordered) - 1) * 0.95
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _oom(state, inspect, snap, health, slow_ms):
    if state.get("OOMKilled") is True:
        return f"the kernel OOM-killed it (State.OOMKilled), exit code {state.get('ExitCode')}"


def _crash_loop(state, inspect, snap, health, slow_ms):
    count = inspect.get("RestartCount") or 0
    if count >= 3 or state.get("Restarting"):
        return f"Docker restarted it {count} times (Restarting={bool(state.get('Restarting'))})"


def _exited(state, inspect, snap, health, slow_ms):
    if not state.get("Running") and not state.get("Restarting"):
        return f"not running (status {state.get('Status')}), exit code {state.get('ExitCode')}"


def _unreachable(state, inspect, snap, health, slow_ms):
    if health.status is None:
        return f"no answer from /health: {health.error}"


def _unhealthy(state, inspect, snap, health, slow_ms):
    parts = []
    if health.status is not None and health.status != 200:
        parts.append(f"/health answered HTTP {health.status}")
    if (state.get("Health") or {}).get("Status") == "unhealthy":
        parts.append("the Docker HEALTHCHECK status is unhealthy")
    return " and ".join(parts) or None


def _slow(state, inspect, snap, health, slow_ms):
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        return f"/health answered in {health.latency_ms:.0f} ms, over {slow_ms:g} ms"
    if snap.latency_ms:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            return f"p95 of {len(snap.latency_ms)} stored samples is {p95:.0f} ms, over {slow_ms:g} ms"


def _error_logs(state, inspect, snap, health, slow_ms):
    last = None
    for line in snap.logs.splitlines():
        lowered = line.lower()
        if any(word in lowered for word in _ERROR_WORDS):
            last = line
    if last is not None:
        return f"last error line: {last.strip()}"


_RULES = (("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited), ("unreachable", _unreachable),
          ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs))


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong."""
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named or with id {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    found = []
    for cause, rule in _RULES:
        evidence = rule(state, snapshot.inspect, snapshot, snapshot.health, slow_ms)
        if evidence:
            found.append(Finding(cause, evidence))
    return found or [Finding("healthy", "checked: docker state, restarts, /health status and latency, stored "
                                        "latency p95, log lines")]


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health with http.client: redirects are reported, never followed."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/") + "/health"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    began = time.monotonic()
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        status = response.status
        try:
            response.read()
        except (http.client.HTTPException, OSError):
            pass  # the status line arrived; the body broke off
        return HealthCheck(status, (time.monotonic() - began) * 1000.0)
    except (http.client.HTTPException, OSError) as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot through docker-py's high-level API."""
    import docker
    from docker.errors import NotFound

    docker_client = docker.from_env() if client is None else client
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = (found.logs(stdout=True, stderr=True, tail=log_lines) if log_lines else b"").decode(
            "utf-8", "replace")
    health = check_health(url, timeout_s=timeout_s)
    latency = () if metrics is None else tuple(
        row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, health, latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse(): the ranked findings for a live container."""
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms)
