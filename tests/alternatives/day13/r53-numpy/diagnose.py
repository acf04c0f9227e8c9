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


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong.

    The README (task 3) gives the rule for each cause and what its evidence must quote.
    """
    if snapshot.inspect is None:
        return [Finding("not_found", f"Docker has no container {snapshot.container!r}")]
    state = snapshot.inspect.get("State") or {}
    restarts = snapshot.inspect.get("RestartCount", 0) or 0
    exit_code = state.get("ExitCode")
    running, restarting = bool(state.get("Running")), bool(state.get("Restarting"))
    health = snapshot.health
    findings: list[Finding] = []
    if state.get("OOMKilled"):
        findings.append(Finding("oom_killed", f"State.OOMKilled is true; exit code {exit_code}"))
    if restarts >= 3 or restarting:
        findings.append(Finding("crash_loop", f"RestartCount {restarts}, State.Restarting {restarting}"))
    if not running and not restarting:
        findings.append(Finding("exited", f"State.Status {state.get('Status')!r}, exit code {exit_code}"))
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    problems = []
    if health.status is not None and health.status != 200:
        problems.append(f"GET /health answered {health.status}")
    if docker_health == "unhealthy":
        problems.append("Docker's HEALTHCHECK reports State.Health.Status 'unhealthy'")
    if problems:
        findings.append(Finding("unhealthy", "; ".join(problems)))
    slow = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow.append(f"/health took {health.latency_ms:.0f} ms")
    if len(snapshot.latency_ms):
        p95 = float(np.percentile(np.asarray(snapshot.latency_ms, dtype=float), 95))
        if p95 > slow_ms:
            slow.append(f"stored p95 latency {p95:.0f} ms")
    if slow:
        findings.append(Finding("slow", "; ".join(slow) + f" (budget {slow_ms:g} ms)"))
    pattern = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)
    errors = [line for line in snapshot.logs.splitlines() if pattern.search(line)]
    if errors:
        findings.append(Finding("error_logs", f"{len(errors)} error line(s), last: {errors[-1].strip()}"))
    if not findings:
        findings.append(Finding("healthy", "container running, /health answered 200 in time, no error in the "
                                           "logs, latency within budget"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (a redirect's status is reported, not followed); never raises for a broken
    or hung server."""
    start = time.perf_counter()
    try:
        with requests.Session() as session:
            response = session.get(f"{url}/health", timeout=timeout_s, allow_redirects=False)
            try:
                _ = response.content  # the whole answer, body included
                latency_ms = (time.perf_counter() - start) * 1000.0
                return HealthCheck(response.status_code, latency_ms)
            finally:
                response.close()
    except requests.RequestException as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")


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
        raw = client.api.logs(container, stdout=True, stderr=True, tail=log_lines) if log_lines > 0 else b""
        logs = raw.decode("utf-8", errors="replace")
    except docker.errors.NotFound:
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
