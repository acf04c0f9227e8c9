"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
import re
import time
from typing import Protocol

import numpy as np
import requests

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


_ERROR_LINE = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong."""
    if snapshot.inspect is None:
        return [Finding("not_found", f"docker has no container {snapshot.container!r}")]
    inspect = snapshot.inspect
    state = inspect.get("State") or {}
    findings: list[Finding] = []
    exit_code = state.get("ExitCode")
    restarts = inspect.get("RestartCount", 0) or 0
    restarting = bool(state.get("Restarting", False))
    running = bool(state.get("Running", False))
    if state.get("OOMKilled"):
        findings.append(Finding("oom_killed", f"State.OOMKilled is true (exit code {exit_code})"))
    if restarts >= 3 or restarting:
        findings.append(Finding("crash_loop", f"restart count {restarts}, State.Restarting={restarting}"))
    if not running and not restarting:
        findings.append(Finding("exited", f"not running (status {state.get('Status')!r}), exit code {exit_code}"))
    health = snapshot.health
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    bad_status = health.status is not None and health.status != 200
    if bad_status or docker_health == "unhealthy":
        parts = []
        if bad_status:
            parts.append(f"GET /health answered {health.status}")
        if docker_health == "unhealthy":
            parts.append("Docker HEALTHCHECK reports status unhealthy")
        findings.append(Finding("unhealthy", "; ".join(parts)))
    slow_parts = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow_parts.append(f"GET /health took {health.latency_ms:.0f} ms (budget {slow_ms:g} ms)")
    if snapshot.latency_ms:
        p95 = float(np.percentile(np.asarray(snapshot.latency_ms, dtype=float), 95))
        if p95 > slow_ms:
            slow_parts.append(f"stored latency p95 {p95:.0f} ms over {len(snapshot.latency_ms)} samples "
                              f"(budget {slow_ms:g} ms)")
    if slow_parts:
        findings.append(Finding("slow", "; ".join(slow_parts)))
    error_lines = [line for line in snapshot.logs.splitlines() if _ERROR_LINE.search(line)]
    if error_lines:
        findings.append(Finding("error_logs", f"{len(error_lines)} error line(s), last: {error_lines[-1].strip()}"))
    if not findings:
        findings.append(Finding("healthy", f"running, /health answered {health.status} in "
                                           f"{health.latency_ms:.0f} ms, no error lines, latency within {slow_ms:g} ms"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (a redirect's status is reported, not followed); never raises."""
    start = time.perf_counter()
    try:
        response = requests.get(f"{url}/health", timeout=timeout_s, allow_redirects=False)
        _ = response.content
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        status = response.status_code
        response.close()
    except requests.RequestException as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a broken server never makes the probe raise
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    return HealthCheck(status, elapsed_ms, None)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot (README task 4)."""
    import docker
    from docker.errors import NotFound

    if client is None:
        client = docker.from_env()
    try:
        inspect = client.api.inspect_container(container)
        if log_lines > 0:
            raw = client.api.logs(container, stdout=True, stderr=True, tail=log_lines)
            logs = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        else:
            logs = ""
    except NotFound:
        inspect, logs = None, ""
    health = check_health(url, timeout_s)
    if metrics is not None:
        samples = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours))
    else:
        samples = ()
    return Snapshot(container, inspect, logs, health, samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse(): the ranked findings for a live container."""
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms)
