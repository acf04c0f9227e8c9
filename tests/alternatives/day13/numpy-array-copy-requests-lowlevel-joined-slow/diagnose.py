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


_ERROR = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong.

    The README (task 3) gives the rule for each cause and what its evidence must quote.
    """
    if snapshot.inspect is None:
        return [Finding("not_found", f"docker has no container {snapshot.container!r}")]
    state = snapshot.inspect.get("State") or {}
    restarts = snapshot.inspect.get("RestartCount", 0) or 0
    exit_code = state.get("ExitCode")
    findings = []
    if state.get("OOMKilled"):
        findings.append(Finding("oom_killed", f"State.OOMKilled is true, exit code {exit_code}"))
    if restarts >= 3 or state.get("Restarting"):
        findings.append(Finding("crash_loop", f"restart count {restarts}, restarting={bool(state.get('Restarting'))}"))
    if not state.get("Running") and not state.get("Restarting"):
        findings.append(Finding("exited", f"status {state.get('Status')!r}, exit code {exit_code}"))
    health = snapshot.health
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    if (health.status is not None and health.status != 200) or docker_health == "unhealthy":
        findings.append(Finding("unhealthy", f"GET /health answered {health.status}; Docker HEALTHCHECK {docker_health}"))
    slow = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow.append(f"/health took {health.latency_ms:.0f} ms")
    if snapshot.latency_ms:
        p95 = float(np.percentile(snapshot.latency_ms, 95))
        if p95 > slow_ms:
            slow.append(f"stored p95 latency {p95:.0f} ms")
    if slow:
        findings.append(Finding("slow", "; ".join(slow) + f" (budget {slow_ms:.0f} ms)"))
    errors = [line for line in snapshot.logs.splitlines() if _ERROR.search(line)]
    if errors:
        findings.append(Finding("error_logs", errors[-1]))
    return findings or [Finding("healthy", f"running, /health answered {health.status} in {health.latency_ms} ms, "
                                           f"{restarts} restarts, no error lines")]


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (a redirect's status is reported, not followed); never raises for a broken
    or hung server."""
    start = time.perf_counter()
    try:
        response = requests.get(f"{url}/health", timeout=timeout_s, allow_redirects=False)
    except requests.RequestException as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    return HealthCheck(response.status_code, (time.perf_counter() - start) * 1000.0)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot: `docker inspect` and the last `log_lines` log lines of `container`
    (through `client`, a docker.DockerClient, default docker.from_env() made at call time), check_health(url),
    and the `latency_ms` samples of the last `hours` from `metrics` when given. Only docker's
    NotFound means "no such container"; any other Docker error, and an error of the store, propagates."""
    import docker

    if client is None:
        client = docker.from_env()
    try:
        inspect = client.api.inspect_container(container)
        logs = client.api.logs(container, stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    except docker.errors.NotFound:
        inspect, logs = None, ""
    samples = () if metrics is None else tuple(
        float(row["value"]) for row in metrics.get_recent_metrics("latency_ms", hours))
    return Snapshot(container, inspect, logs, check_health(url, timeout_s), samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse(): the ranked findings for a live container."""
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms)
