"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
import re
import time

import numpy as np
import requests

_ERROR_RE = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)

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
        return [Finding("not_found", f"Docker has no container named {snapshot.container!r}")]
    state = snapshot.inspect.get("State") or {}
    restarts = snapshot.inspect.get("RestartCount") or 0
    exit_code = state.get("ExitCode")
    findings: list[Finding] = []
    if state.get("OOMKilled"):
        findings.append(Finding("oom_killed", f"OOMKilled is true, exit code {exit_code}"))
    if restarts >= 3 or state.get("Restarting"):
        findings.append(Finding("crash_loop", f"restarted {restarts} times (RestartCount {restarts}, "
                                              f"restarting: {bool(state.get('Restarting'))})"))
    if not state.get("Running") and not state.get("Restarting"):
        findings.append(Finding("exited", f"not running (status {state.get('Status')}), exit code {exit_code}"))
    health = snapshot.health
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    bad_status = health.status is not None and health.status != 200
    if bad_status or docker_health == "unhealthy":
        parts = []
        if bad_status:
            parts.append(f"GET /health answered {health.status}")
        else:
            parts.append(f"GET /health answered {health.status}")
        if docker_health == "unhealthy":
            parts.append("Docker's HEALTHCHECK fails (status unhealthy)")
        findings.append(Finding("unhealthy", "; ".join(parts)))
    slow_parts = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow_parts.append(f"/health took {health.latency_ms:.0f} ms (budget {slow_ms:g} ms)")
    if len(snapshot.latency_ms) > 0:
        p95 = float(np.percentile(np.asarray(snapshot.latency_ms, dtype=float), 95))
        if p95 > slow_ms:
            slow_parts.append(f"stored latency p95 {p95:.0f} ms over {len(snapshot.latency_ms)} samples "
                              f"(budget {slow_ms:g} ms)")
    if slow_parts:
        findings.append(Finding("slow", "; ".join(slow_parts)))
    error_lines = [line for line in (snapshot.logs or "").splitlines() if _ERROR_RE.search(line)]
    if error_lines:
        findings.append(Finding("error_logs", f"{len(error_lines)} error line(s), the last: {error_lines[-1]}"))
    if not findings:
        findings.append(Finding("healthy", f"container running, /health answered {health.status} in "
                                           f"{health.latency_ms:.0f} ms, no slow latency, no error lines"
                                if health.latency_ms is not None else "container running, nothing wrong"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (a redirect's status is reported, not followed); never raises for a broken
    or hung server."""
    start = time.perf_counter()
    try:
        response = requests.get(f"{url}/health", timeout=timeout_s, allow_redirects=False)
        try:
            response.content
        except Exception:
            pass
    except Exception as exc:  # refused, timed out, broken off, not HTTP
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - start) * 1000.0
    return HealthCheck(response.status_code, elapsed, None)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot: `docker inspect` and the last `log_lines` log lines of `container`
    (through `client`, a docker.DockerClient, default docker.from_env() made at call time), check_health(url),
    and the `latency_ms` samples of the last `hours` from `metrics` when given. Only docker's
    NotFound means "no such container"; any other Docker error, and an error of the store, propagates."""
    import docker
    import docker.errors

    if client is None:
        client = docker.from_env()
    try:
        inspect = client.api.inspect_container(container)
        if log_lines <= 0:
            logs = ""
        else:
            raw = client.api.logs(inspect["Id"], stdout=True, stderr=True, tail=log_lines)
            logs = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
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
