"""Container diagnosis: an evidence collector and a rule-table judge."""

from __future__ import annotations

import http.client
import socket
import statistics
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

_ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


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


def _p95(samples) -> float:
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=20, method="inclusive")[-1]


class _Judge:
    """One method per cause; each returns evidence text or None."""

    def __init__(self, snap: Snapshot, slow_ms: float) -> None:
        self.snap = snap
        self.slow_ms = slow_ms
        self.state = snap.inspect.get("State") or {}

    def oom_killed(self) -> Optional[str]:
        if self.state.get("OOMKilled") is True:
            return f"killed for memory (OOMKilled), exit code {self.state.get('ExitCode')}"
        return None

    def crash_loop(self) -> Optional[str]:
        count = self.snap.inspect.get("RestartCount") or 0
        if count >= 3 or self.state.get("Restarting"):
            return f"Docker restarted it {count} times (restarting: {bool(self.state.get('Restarting'))})"
        return None

    def exited(self) -> Optional[str]:
        if not self.state.get("Running") and not self.state.get("Restarting"):
            return f"not running ({self.state.get('Status')}), exit code {self.state.get('ExitCode')}"
        return None

    def unreachable(self) -> Optional[str]:
        if self.snap.health.status is None:
            return f"no answer from /health: {self.snap.health.error}"
        return None

    def unhealthy(self) -> Optional[str]:
        said = []
        status = self.snap.health.status
        if status is not None and status != 200:
            said.append(f"/health answered HTTP {status}")
        if (self.state.get("Health") or {}).get("Status") == "unhealthy":
            said.append("Docker HEALTHCHECK reports unhealthy")
        return ", ".join(said) or None

    def slow(self) -> Optional[str]:
        said = []
        probe = self.snap.health.latency_ms
        if probe is not None and probe > self.slow_ms:
            said.append(f"/health answered in {probe:.0f} ms")
        if self.snap.latency_ms:
            p95 = _p95(self.snap.latency_ms)
            if p95 > self.slow_ms:
                said.append(f"p95 of stored latency is {p95:.0f} ms")
        return ("; ".join(said) + f" > {self.slow_ms:g} ms") if said else None

    def error_logs(self) -> Optional[str]:
        last = None
        for line in self.snap.logs.splitlines():
            lowered = line.lower()
            if any(word in lowered for word in _ERROR_WORDS):
                last = line
        return last


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    judge = _Judge(snapshot, slow_ms)
    findings = []
    for cause in CAUSES[1:-1]:
        evidence = getattr(judge, cause)()
        if evidence is not None:
            findings.append(Finding(cause, evidence))
    if not findings:
        findings.append(Finding("healthy", "checked state, restarts, /health status and latency, stored p95, logs"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout_s)
    path = parts.path.rstrip("/") + "/health"
    try:
        started = time.monotonic()
        conn.request("GET", path, headers={"Host": parts.netloc})
        response = conn.getresponse()
        response.read()
        took = (time.monotonic() - started) * 1000.0
        return HealthCheck(response.status, took)
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    inspect, logs = None, ""
    try:
        found = docker_client.containers.get(container)
        inspect = found.attrs
        raw = found.logs(stdout=True, stderr=True, tail=log_lines)
        logs = raw.decode("utf-8", "replace")
    except NotFound:
        inspect, logs = None, ""
    latency: tuple[float, ...] = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs,
                    health=check_health(url, timeout_s=timeout_s), latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms=slow_ms)
