"""Rules as small methods of a judge class; the probe uses http.client; docker's high-level API."""
from __future__ import annotations

import http.client
import socket
import statistics
import time
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

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
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = 0.95 * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class _Judge:
    def __init__(self, snap: Snapshot, slow_ms: float) -> None:
        self.snap, self.slow_ms = snap, slow_ms
        self.state = snap.inspect["State"]

    def oom_killed(self):
        if self.state.get("OOMKilled") is True:
            return f"the kernel OOM-killed it (exit code {self.state.get('ExitCode')})"

    def crash_loop(self):
        count = self.snap.inspect.get("RestartCount", 0)
        if count >= 3 or self.state.get("Restarting", False):
            return f"Docker restarted it {count} times"

    def exited(self):
        if not self.state.get("Running", False) and not self.state.get("Restarting", False):
            return f"not running ({self.state.get('Status')}), exit code {self.state.get('ExitCode')}"

    def unreachable(self):
        if self.snap.health.status is None:
            return f"no answer from /health: {self.snap.health.error}"

    def unhealthy(self):
        status = self.snap.health.status
        docker_says = (self.state.get("Health") or {}).get("Status") == "unhealthy"
        words = []
        if status is not None and status != 200:
            words.append(f"/health answered HTTP {status}")
        if docker_says:
            words.append("Docker's HEALTHCHECK reports unhealthy")
        return ", ".join(words) or None

    def slow(self):
        probe = self.snap.health.latency_ms
        if probe is not None and probe > self.slow_ms:
            return f"/health took {probe:.0f} ms > {self.slow_ms} ms"
        if self.snap.latency_ms:
            p95 = _p95(self.snap.latency_ms)
            if p95 > self.slow_ms:
                return f"p95 of {len(self.snap.latency_ms)} stored samples is {p95:.0f} ms > {self.slow_ms} ms"

    def error_logs(self):
        for line in reversed(self.snap.logs.splitlines()):
            lowered = line.lower()
            if any(word in lowered for word in KEYWORDS):
                return f"log: {line}"


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    judge = _Judge(snapshot, slow_ms)
    findings = []
    for cause in CAUSES[1:-1]:
        evidence = getattr(judge, cause)()
        if evidence:
            findings.append(Finding(cause, evidence))
    if not findings:
        findings.append(Finding("healthy", "checked state, restarts, /health status and latency, logs"))
    return findings


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = connection_class(parts.hostname, parts.port, timeout=timeout_s)
    started = time.monotonic()
    try:
        conn.request("GET", parts.path.rstrip("/") + "/health")
        response = conn.getresponse()
        try:
            response.read()
        except (http.client.HTTPException, OSError):
            pass  # the status arrived; a body broken off midway does not change it
        return HealthCheck(response.status, (time.monotonic() - started) * 1000.0)
    except (http.client.HTTPException, OSError, ValueError) as exc:
        return HealthCheck(None, None, repr(exc))
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        raw = found.logs(stdout=True, stderr=True, tail=log_lines)
        logs = raw.decode("utf-8", "replace")
    health = check_health(url, timeout_s=timeout_s)
    latency = () if metrics is None else tuple(
        float(row["value"]) for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, health, latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
