"""Why is the model server down or slow? Gather the evidence, then rank the causes."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import requests

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

ERROR_WORDS = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)


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
    if snapshot.inspect is None:
        return [Finding("not_found", f"docker has no container {snapshot.container!r}")]
    inspect = snapshot.inspect
    state = inspect.get("State") or {}
    restarts = inspect.get("RestartCount", 0) or 0
    exit_code = state.get("ExitCode")
    running = bool(state.get("Running"))
    restarting = bool(state.get("Restarting"))
    findings: list[Finding] = []

    if state.get("OOMKilled"):
        findings.append(Finding("oom_killed", f"State.OOMKilled is true, exit code {exit_code}"))
    if restarts >= 3 or restarting:
        findings.append(Finding("crash_loop", f"restart count {restarts}, restarting={restarting}"))
    if not running and not restarting:
        findings.append(Finding("exited", f"status {state.get('Status')!r}, exit code {exit_code}"))

    health = snapshot.health
    if health.status is None:
        findings.append(Finding("unreachable", f"GET /health got no answer: {health.error}"))
    docker_health = (state.get("Health") or {}).get("Status")
    bad_status = health.status is not None and health.status != 200
    if bad_status or docker_health == "unhealthy":
        parts = []
        if health.status is not None:
            parts.append(f"GET /health answered {health.status}")
        if docker_health == "unhealthy":
            parts.append("Docker HEALTHCHECK status is unhealthy")
        findings.append(Finding("unhealthy", "; ".join(parts)))

    slow = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow.append(f"/health took {health.latency_ms:.0f} ms")
    if snapshot.latency_ms:
        p95 = float(np.percentile(np.asarray(snapshot.latency_ms, dtype=float), 95))
        if p95 > slow_ms:
            slow.append(f"stored p95 latency {p95:.0f} ms")
    if slow:
        findings.append(Finding("slow", "; ".join(slow) + f" (budget {slow_ms:g} ms)"))

    error_lines = [line for line in snapshot.logs.splitlines() if ERROR_WORDS.search(line)]
    if error_lines:
        findings.append(Finding("error_logs", error_lines[-1].strip()))

    if not findings:
        findings.append(Finding("healthy", f"running, /health answered {health.status} in "
                                           f"{health.latency_ms} ms, no error lines, restarts {restarts}"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    target = url.rstrip("/") + "/health"
    start = time.perf_counter()
    try:
        with requests.Session() as session:
            response = session.get(target, timeout=timeout_s, allow_redirects=False)
            try:
                _ = response.content
            finally:
                response.close()
        elapsed = (time.perf_counter() - start) * 1000.0
    except requests.RequestException as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - never raise for a broken server
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    return HealthCheck(response.status_code, elapsed)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker

    if client is None:
        client = docker.from_env()
    try:
        inspect = client.api.inspect_container(container)
    except docker.errors.NotFound:
        inspect, logs = None, ""
    else:
        raw = client.api.logs(container, stdout=True, stderr=True, tail=log_lines)
        logs = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    health = check_health(url, timeout_s)
    samples: tuple[float, ...] = ()
    if metrics is not None:
        samples = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours))
    return Snapshot(container, inspect, logs, health, samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms)
