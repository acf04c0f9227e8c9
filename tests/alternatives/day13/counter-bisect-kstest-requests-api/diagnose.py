"""Alt B: low-level docker API, requests probe, straight-line ifs, hand-written linear p95."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import requests

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")
ERROR_MARKERS = ("error", "exception", "traceback", "fatal", "panic")


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


def _p95(values) -> float:
    xs = sorted(values)
    pos = (len(xs) - 1) * 0.95
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no such container: {snapshot.container!r}")]
    info = snapshot.inspect
    state = info.get("State", {})
    health = snapshot.health
    found: list[Finding] = []
    exit_code = state.get("ExitCode")
    restarts = info.get("RestartCount", 0)
    if state.get("OOMKilled", False):
        found.append(Finding("oom_killed", f"OOMKilled=true, ExitCode={exit_code}"))
    if restarts >= 3 or state.get("Restarting", False):
        found.append(Finding("crash_loop", f"RestartCount={restarts}, Restarting={state.get('Restarting')}"))
    if not state.get("Running", False) and not state.get("Restarting", False):
        found.append(Finding("exited", f"Status={state.get('Status')}, ExitCode={exit_code}"))
    if health.status is None:
        found.append(Finding("unreachable", f"/health: {health.error}"))
    docker_health = state.get("Health", {}).get("Status")
    if (health.status is not None and health.status != 200) or docker_health == "unhealthy":
        found.append(Finding("unhealthy", f"/health status {health.status}, docker health {docker_health}"))
    slow_parts = []
    if health.latency_ms is not None and health.latency_ms > slow_ms:
        slow_parts.append(f"/health latency {health.latency_ms:.0f} ms")
    if snapshot.latency_ms:
        p95 = _p95(snapshot.latency_ms)
        if p95 > slow_ms:
            slow_parts.append(f"p95 {p95:.0f} ms")
    if slow_parts:
        found.append(Finding("slow", f"{' and '.join(slow_parts)} > {slow_ms:g} ms"))
    last_error = None
    for line in snapshot.logs.split("\n"):
        lowered = line.lower()
        if any(marker in lowered for marker in ERROR_MARKERS):
            last_error = line
    if last_error is not None:
        found.append(Finding("error_logs", last_error))
    if not found:
        found.append(Finding("healthy", f"state {state.get('Status')}, /health {health.status}, "
                                        f"{len(snapshot.latency_ms)} latency samples, logs clean"))
    return found


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    t0 = time.perf_counter()
    try:
        r = requests.get(f"{url}/health", timeout=timeout_s, allow_redirects=False)
    except requests.RequestException as exc:
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(r.status_code, (time.perf_counter() - t0) * 1000)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    import docker.errors

    if client is None:
        client = docker.from_env()
    try:
        inspect = client.api.inspect_container(container)
        raw = client.api.logs(container, stdout=True, stderr=True, tail=log_lines)
        logs = raw.decode(errors="replace")
    except docker.errors.NotFound:
        inspect, logs = None, ""
    latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours)) if metrics else ()
    return Snapshot(container, inspect, logs, check_health(url, timeout_s), latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
