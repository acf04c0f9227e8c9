"""Diagnosis with a table of rules, http.client for the probe and docker's high-level API."""

from __future__ import annotations

import http.client
import math
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Protocol

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


def _p95(samples) -> float:
    ordered = sorted(float(s) for s in samples)
    pos = 0.95 * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _oom(snap, state, slow_ms):
    if state.get("OOMKilled") is True:
        return f"the kernel OOM-killed it (exit code {state.get('ExitCode')})"
    return None


def _crash(snap, state, slow_ms):
    count = snap.inspect.get("RestartCount", 0)
    if count >= 3 or state.get("Restarting"):
        return f"Docker restarted it {count} times (restarting now: {bool(state.get('Restarting'))})"
    return None


def _exited(snap, state, slow_ms):
    if not state.get("Running", False) and not state.get("Restarting", False):
        return f"State {state.get('Status')}, exit code {state.get('ExitCode')}"
    return None


def _unreachable(snap, state, slow_ms):
    if snap.health.status is None:
        return f"no answer from /health: {snap.health.error!s}"
    return None


def _unhealthy(snap, state, slow_ms):
    notes = []
    if snap.health.status is not None and snap.health.status != 200:
        notes.append(f"/health returned HTTP {snap.health.status}")
    if state.get("Health", {}).get("Status") == "unhealthy":
        notes.append("docker HEALTHCHECK status: unhealthy")
    return ", ".join(notes) or None


def _slow(snap, state, slow_ms):
    notes = []
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        notes.append(f"/health answered in {snap.health.latency_ms:.0f} ms")
    if len(snap.latency_ms) > 0:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            notes.append(f"p95 of {len(snap.latency_ms)} stored samples is {p95:.0f} ms")
    return (" and ".join(notes) + f", budget {slow_ms:g} ms") if notes else None


_ERRORS = re.compile(r"(error|exception|traceback|fatal|panic)", re.I)


def _error_logs(snap, state, slow_ms):
    last = None
    for line in snap.logs.split("\n"):
        if _ERRORS.search(line):
            last = line
    return None if last is None else f"log: {last}"


RULES: list[tuple[str, Callable]] = [("oom_killed", _oom), ("crash_loop", _crash), ("exited", _exited),
                                     ("unreachable", _unreachable), ("unhealthy", _unhealthy), ("slow", _slow),
                                     ("error_logs", _error_logs)]


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    out = []
    for cause, rule in RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            out.append(Finding(cause, evidence))
    if not out:
        out.append(Finding("healthy", "checked: container state, restarts, /health status and latency, "
                                      "stored latency p95, log lines"))
    return out


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path + "/health"
    if parts.query:
        path += "?" + parts.query
    began = time.monotonic()
    conn = cls(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
    finally:
        conn.close()
    return HealthCheck(status, (time.monotonic() - began) * 1e3)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    from docker import from_env
    from docker.errors import NotFound

    docker_client = client if client is not None else from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    health = check_health(url, timeout_s=timeout_s)
    samples: tuple = ()
    if metrics is not None:
        samples = tuple([row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours)])
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms=slow_ms)
