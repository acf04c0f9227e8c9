"""Diagnosis with a rule class per snapshot, http.client for the probe, the high-level Docker API."""

from __future__ import annotations

import http.client
import math
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

KEYWORDS = ("error", "exception", "traceback", "fatal", "panic")


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
    """Linear-interpolated 95th percentile, as numpy.percentile's default."""
    data = sorted(samples)
    h = (len(data) - 1) * 0.95
    lo = math.floor(h)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (h - lo) * (data[hi] - data[lo])


class _Judge:
    def __init__(self, snapshot: Snapshot, slow_ms: float) -> None:
        self.s = snapshot
        self.slow_ms = slow_ms
        self.state = snapshot.inspect["State"]

    def oom_killed(self):
        if self.state.get("OOMKilled") is True:
            return f"the kernel OOM-killed it (State.OOMKilled); ExitCode={self.state.get('ExitCode')}"

    def crash_loop(self):
        count = self.s.inspect.get("RestartCount", 0)
        if count >= 3 or self.state.get("Restarting"):
            return f"Docker restarted it {count} times (Restarting={self.state.get('Restarting')})"

    def exited(self):
        if not self.state.get("Running") and not self.state.get("Restarting"):
            return f"not running ({self.state.get('Status')}), ExitCode={self.state.get('ExitCode')}"

    def unreachable(self):
        if self.s.health.status is None:
            return f"/health did not answer: {self.s.health.error!r}"

    def unhealthy(self):
        reasons = []
        if self.s.health.status not in (None, 200):
            reasons.append(f"/health answered HTTP {self.s.health.status}")
        if self.state.get("Health", {}).get("Status") == "unhealthy":
            reasons.append("the Docker HEALTHCHECK status is unhealthy")
        return " and ".join(reasons) or None

    def slow(self):
        offending = []
        if self.s.health.latency_ms is not None and self.s.health.latency_ms > self.slow_ms:
            offending.append(("probe", self.s.health.latency_ms))
        if self.s.latency_ms:
            p95 = _p95(self.s.latency_ms)
            if p95 > self.slow_ms:
                offending.append(("stored p95", p95))
        if offending:
            return ", ".join(f"{what} {v:.0f} ms" for what, v in offending) + f" > {self.slow_ms} ms"

    def error_logs(self):
        last = None
        for line in self.s.logs.split("\n"):
            lowered = line.lower()
            if any(k in lowered for k in KEYWORDS):
                last = line
        if last is not None:
            return f"log: {last}"

    def findings(self) -> list[Finding]:
        out = []
        for cause in CAUSES[1:-1]:
            evidence = getattr(self, cause)()
            if evidence:
                out.append(Finding(cause, evidence))
        return out


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no such container: {snapshot.container}")]
    found = _Judge(snapshot, slow_ms).findings()
    if not found:
        return [Finding("healthy", "checked state, restarts, /health, latency and logs: all fine")]
    return found


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname, parts.port, timeout=timeout_s)
    try:
        started = time.monotonic()
        conn.request("GET", parts.path.rstrip("/") + "/health")
        response = conn.getresponse()
        response.read()
        elapsed = time.monotonic() - started
        return HealthCheck(response.status, elapsed * 1000.0)
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    inspect = None
    logs = ""
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        found = None
    if found is not None:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    health = check_health(url, timeout_s=timeout_s)
    latency: tuple[float, ...] = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
