"""Rank the causes with a rule table; gather with docker's high-level API and urllib."""

from __future__ import annotations

import http.client
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")


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
    h = (len(ordered) - 1) * 0.95
    lo = int(math.floor(h))
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (h - lo)


Rule = Callable[[dict, Snapshot, float], Optional[str]]


def _oom(state, snap, slow_ms):
    return f"killed for memory: OOMKilled, exit code {state.get('ExitCode')}" if state.get("OOMKilled") else None


def _crash_loop(state, snap, slow_ms):
    count = snap.inspect.get("RestartCount", 0)
    if count >= 3 or state.get("Restarting"):
        return f"RestartCount={count}, Restarting={state.get('Restarting')}"
    return None


def _exited(state, snap, slow_ms):
    if state.get("Running") or state.get("Restarting"):
        return None
    return f"not running (Status={state.get('Status')}), ExitCode={state.get('ExitCode')}"


def _unreachable(state, snap, slow_ms):
    return f"no answer from /health: {snap.health.error}" if snap.health.status is None else None


def _unhealthy(state, snap, slow_ms):
    reasons = []
    if snap.health.status is not None and snap.health.status != 200:
        reasons.append(f"/health answered HTTP {snap.health.status}")
    if state.get("Health", {}).get("Status") == "unhealthy":
        reasons.append("Docker HEALTHCHECK reports unhealthy")
    return "; ".join(reasons) or None


def _slow(state, snap, slow_ms):
    parts = []
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        parts.append(f"/health answered in {snap.health.latency_ms:.0f} ms")
    if snap.latency_ms:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            parts.append(f"p95 of recent latency {p95:.0f} ms")
    return (", ".join(parts) + f" > {slow_ms:g} ms") if parts else None


def _error_logs(state, snap, slow_ms):
    last = None
    for line in snap.logs.splitlines():
        low = line.lower()
        if any(word in low for word in ERROR_WORDS):
            last = line
    return f"log: {last}" if last is not None else None


RULES: dict[str, Rule] = {
    "oom_killed": _oom, "crash_loop": _crash_loop, "exited": _exited, "unreachable": _unreachable,
    "unhealthy": _unhealthy, "slow": _slow, "error_logs": _error_logs,
}


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no such container: {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    findings = []
    for cause in CAUSES:
        rule = RULES.get(cause)
        if rule is None:
            continue
        evidence = rule(state, snapshot, slow_ms)
        if evidence:
            findings.append(Finding(cause, evidence))
    return findings or [Finding("healthy", f"{snapshot.container}: running, /health {snapshot.health.status}, "
                                           f"fast enough, clean logs")]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer: report its status, do not follow it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    started = time.monotonic()
    try:
        with _OPENER.open(url + "/health", timeout=timeout_s) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, refused, timeouts, broken answers
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(status, (time.monotonic() - started) * 1000)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    import docker.errors

    client = client or docker.from_env()
    try:
        found = client.containers.get(container)
    except docker.errors.NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode(errors="replace")
    latency = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, check_health(url, timeout_s=timeout_s), latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
