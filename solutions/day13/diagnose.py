"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import requests

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")
CRASH_LOOP_RESTARTS = 3
ERROR_LINE = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)


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


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings, most likely root cause first; [healthy] when nothing is wrong."""
    if snapshot.inspect is None:
        return [Finding("not_found", f"Docker has no container {snapshot.container!r}")]
    state = snapshot.inspect.get("State") or {}
    restarts = snapshot.inspect.get("RestartCount") or 0
    exit_code = state.get("ExitCode")
    findings = []
    if state.get("OOMKilled"):
        limit = (snapshot.inspect.get("HostConfig") or {}).get("Memory") or 0
        limit_text = f" (memory limit {limit / 2**20:g} MiB)" if limit else ""
        findings.append(Finding("oom_killed", f"State.OOMKilled is true, exit code {exit_code}{limit_text}"))
    if restarts >= CRASH_LOOP_RESTARTS or state.get("Restarting"):
        findings.append(Finding("crash_loop", f"restarted {restarts} times (status {state.get('Status')})"))
    if not state.get("Running") and not state.get("Restarting"):
        findings.append(Finding("exited", f"status {state.get('Status')}, exit code {exit_code}"))
    health = snapshot.health
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    if (health.status is not None and health.status != 200) or docker_health == "unhealthy":
        findings.append(Finding("unhealthy", f"GET /health answered {health.status}; Docker health: {docker_health}"))
    slow = _slowness(health, snapshot.latency_ms, slow_ms)
    if slow:
        findings.append(Finding("slow", slow))
    errors = [line.strip() for line in snapshot.logs.splitlines() if ERROR_LINE.search(line)]
    if errors:
        findings.append(Finding("error_logs", f"{len(errors)} error lines, the last: {errors[-1]}"))
    return findings or [Finding("healthy", f"running, GET /health answered 200 in {health.latency_ms:.0f} ms")]


def _slowness(health: HealthCheck, samples: tuple[float, ...], slow_ms: float) -> str:
    reasons = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        reasons.append(f"GET /health took {health.latency_ms:.0f} ms")
    if samples:
        p95 = float(np.percentile(samples, 95))
        if p95 > slow_ms:
            reasons.append(f"p95 latency {p95:.0f} ms")
    return f"{' and '.join(reasons)} (over {slow_ms:g} ms)" if reasons else ""


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health; never raises for a broken server."""
    started = time.perf_counter()
    try:
        response = requests.get(f"{url.rstrip('/')}/health", timeout=timeout_s, allow_redirects=False)
    except requests.Timeout:
        return HealthCheck(None, None, f"timed out after {timeout_s:g} s")
    except requests.RequestException as exc:
        return HealthCheck(None, None, f"{exc.__class__.__name__}: {exc}")
    return HealthCheck(response.status_code, (time.perf_counter() - started) * 1000.0)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect Docker's inspect and log tail, a health probe and recent latency into a Snapshot."""
    import docker

    client = client or docker.from_env(timeout=30)
    try:
        inspect = client.api.inspect_container(container)
    except docker.errors.NotFound:
        inspect, logs = None, ""
    else:
        logs = client.api.logs(container, stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    samples = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours)) if metrics else ()
    return Snapshot(container, inspect, logs, check_health(url, timeout_s), samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms=slow_ms)
