from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")


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


ERROR_LINE = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"docker has no container {snapshot.container!r}")]
    state = snapshot.inspect.get("State", {})
    restarts = snapshot.inspect.get("RestartCount", 0) or 0
    findings = []
    if state.get("OOMKilled"):
        findings.append(Finding("oom_killed", f"OOMKilled, exit code {state.get('ExitCode')}"))
    if restarts >= 3 or state.get("Restarting"):
        findings.append(Finding("crash_loop", f"restarted {restarts} times (restarting={state.get('Restarting')})"))
    if not state.get("Running") and not state.get("Restarting"):
        findings.append(Finding("exited", f"status {state.get('Status')}, exit code {state.get('ExitCode')}"))
    health = snapshot.health
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    if (health.status is not None and health.status != 200) or docker_health == "unhealthy":
        findings.append(Finding("unhealthy", f"GET /health answered {health.status}; docker health {docker_health}"))
    slow = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow.append(f"/health took {health.latency_ms:.0f} ms")
    if len(snapshot.latency_ms):
        p95 = float(np.percentile(snapshot.latency_ms, 95))
        if p95 > slow_ms:
            slow.append(f"stored p95 latency {p95:.0f} ms")
    if slow:
        findings.append(Finding("slow", "; ".join(slow) + f" (budget {slow_ms:.0f} ms)"))
    errors = [line for line in snapshot.logs.splitlines() if ERROR_LINE.search(line)]
    if errors:
        findings.append(Finding("error_logs", f"last error line: {errors[-1]}"))
    if not findings:
        findings.append(Finding("healthy", "running, no restarts, /health 200 within budget, no error lines"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    import requests

    start = time.perf_counter()
    try:
        response = requests.get(f"{url.rstrip('/')}/health", timeout=timeout_s, allow_redirects=False)
    except requests.RequestException as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    return HealthCheck(response.status_code, (time.perf_counter() - start) * 1000.0)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker

    client = client or docker.from_env()
    try:
        inspect = client.api.inspect_container(container)
        logs = client.api.logs(container, stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    except docker.errors.NotFound:
        inspect, logs = None, ""
    samples = ()
    if metrics is not None:
        samples = tuple(float(r["value"]) for r in metrics.get_recent_metrics("latency_ms", hours))
    return Snapshot(container, inspect, logs, check_health(url, timeout_s), samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms)
