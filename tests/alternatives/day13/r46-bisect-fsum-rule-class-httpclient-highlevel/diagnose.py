"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
import http.client
import math
import re
import time
import urllib.parse
from typing import Callable, Optional, Protocol

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


_ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


def _p95(samples) -> float:
    """95th percentile, linear interpolation between closest ranks (numpy.percentile's default)."""
    s = sorted(float(v) for v in samples)
    h = (len(s) - 1) * 0.95
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


class _Rules:
    """One method per cause, named after it; each returns the evidence or None."""

    def __init__(self, snapshot: Snapshot, slow_ms: float) -> None:
        self.snap = snapshot
        self.slow_ms = slow_ms
        self.state = snapshot.inspect.get("State", {}) if snapshot.inspect else {}

    @property
    def restarting(self) -> bool:
        return self.state.get("Restarting") is True

    def oom_killed(self) -> Optional[str]:
        if self.state.get("OOMKilled") is True:
            return f"killed for memory (OOMKilled), ExitCode={self.state.get('ExitCode')}"
        return None

    def crash_loop(self) -> Optional[str]:
        count = self.snap.inspect.get("RestartCount") or 0
        if count >= 3 or self.restarting:
            return f"RestartCount={count}" + (" and restarting now" if self.restarting else "")
        return None

    def exited(self) -> Optional[str]:
        if self.state.get("Running") is not True and not self.restarting:
            return f"Status={self.state.get('Status')}, ExitCode={self.state.get('ExitCode')}"
        return None

    def unreachable(self) -> Optional[str]:
        h = self.snap.health
        return f"no answer from /health ({h.error!r})" if h.status is None else None

    def unhealthy(self) -> Optional[str]:
        h = self.snap.health
        facts = []
        if h.status is not None and h.status != 200:
            facts.append(f"/health status {h.status}")
        health = self.state.get("Health")
        if isinstance(health, dict) and health.get("Status") == "unhealthy":
            facts.append(f"docker healthcheck: unhealthy (failing streak {health.get('FailingStreak')})")
        return ", ".join(facts) or None

    def slow(self) -> Optional[str]:
        h = self.snap.health
        if h.latency_ms is not None and h.latency_ms > self.slow_ms:
            return f"/health answered in {h.latency_ms:.0f} ms > {self.slow_ms} ms"
        if self.snap.latency_ms:
            p95 = _p95(self.snap.latency_ms)
            if p95 > self.slow_ms:
                return f"p95 of {len(self.snap.latency_ms)} stored samples {p95:.0f} ms > {self.slow_ms} ms"
        return None

    def error_logs(self) -> Optional[str]:
        last = None
        for line in self.snap.logs.split("\n"):
            low = line.lower()
            if any(word in low for word in _ERROR_WORDS):
                last = line
        return None if last is None else last.strip()


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong."""
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named or with id {snapshot.container}")]
    rules = _Rules(snapshot, slow_ms)
    found = []
    for cause in CAUSES:
        rule: Callable[[], Optional[str]] | None = getattr(rules, cause, None) if cause not in ("not_found", "healthy") else None
        if rule is None:
            continue
        evidence = rule()
        if evidence is not None:
            found.append(Finding(cause, evidence))
    if not found:
        found.append(Finding("healthy", f"checked: container state, /health ({snapshot.health.status}), "
                                        f"latency, {len(snapshot.logs.splitlines())} log lines"))
    return found


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health with http.client (which never follows redirects); never raises."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path + "/health"
    conn = None
    began = time.monotonic()
    try:
        conn = kind(parts.hostname, parts.port, timeout=timeout_s)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        took = (time.monotonic() - began) * 1000.0
        return HealthCheck(response.status, took)
    except Exception as exc:  # refused, reset, timed out, not HTTP, cut short
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    finally:
        if conn is not None:
            conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot (README task 4) through docker's high-level API."""
    import docker

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
    except docker.errors.NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        if log_lines:
            logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
        else:
            logs = ""
    health = check_health(url, timeout_s=timeout_s)
    latency: tuple = ()
    if metrics is not None:
        latency = tuple(r["value"] for r in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse(): the ranked findings for a live container."""
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
