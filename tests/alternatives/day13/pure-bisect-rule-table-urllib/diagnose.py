"""Table-driven rules, urllib for the probe, docker's high-level containers API."""
from __future__ import annotations

import http.client
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

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


def _p95(samples):
    s = sorted(samples)
    pos = (len(s) - 1) * 0.95
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _oom(snap, state, slow_ms):
    if state.get("OOMKilled", False):
        return f"killed by the kernel for memory (OOMKilled), exit code {state.get('ExitCode')}"


def _crash(snap, state, slow_ms):
    count = snap.inspect.get("RestartCount", 0) or 0
    if count >= 3 or state.get("Restarting", False):
        return f"RestartCount={count}"


def _exited(snap, state, slow_ms):
    if not state.get("Running", False) and not state.get("Restarting", False):
        return f"not running ({state.get('Status')}), ExitCode={state.get('ExitCode')}"


def _unreachable(snap, state, slow_ms):
    if snap.health.status is None:
        return f"no answer from /health: {snap.health.error}"


def _unhealthy(snap, state, slow_ms):
    reasons = []
    if snap.health.status is not None and snap.health.status != 200:
        reasons.append(f"/health returned HTTP {snap.health.status}")
    if state.get("Health", {}).get("Status") == "unhealthy":
        reasons.append("docker HEALTHCHECK reports unhealthy")
    return "; ".join(reasons) or None


def _slow(snap, state, slow_ms):
    reasons = []
    if snap.health.latency_ms is not None and snap.health.latency_ms > slow_ms:
        reasons.append(f"health probe {snap.health.latency_ms:.0f} ms")
    if snap.latency_ms:
        p95 = _p95(snap.latency_ms)
        if p95 > slow_ms:
            reasons.append(f"p95 of recent latency {p95:.0f} ms")
    return ", ".join(reasons) or None


def _error_logs(snap, state, slow_ms):
    last = None
    for line in snap.logs.splitlines():
        lowered = line.lower()
        if any(word in lowered for word in ERROR_WORDS):
            last = line
    return None if last is None else f"last error line: {last}"


RULES = (("oom_killed", _oom), ("crash_loop", _crash), ("exited", _exited), ("unreachable", _unreachable),
         ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs))


def analyse(snapshot, slow_ms=200.0):
    if snapshot.inspect is None:
        return [Finding("not_found", f"no such container: {snapshot.container}")]
    state = snapshot.inspect.get("State") or {}
    findings = []
    for cause, rule in RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence:
            findings.append(Finding(cause, evidence))
    if not findings:
        findings.append(Finding("healthy", f"checked state, restarts, /health ({snapshot.health.status}), "
                                           f"latency and {len(snapshot.logs.splitlines())} log lines"))
    return findings


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer: report its status, do not follow it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url, timeout_s=2.0):
    started = time.monotonic()
    try:
        with _OPENER.open(url.rstrip("/") + "/health", timeout=timeout_s) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(status, (time.monotonic() - started) * 1000)


def gather(container, url, *, client=None, metrics=None, log_lines=50, timeout_s=2.0, hours=1.0):
    import docker
    import docker.errors

    if client is None:
        client = docker.from_env()
    try:
        found = client.containers.get(container)
    except docker.errors.NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode(errors="replace")
    latency = ()
    if metrics:
        latency = tuple(r["value"] for r in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, check_health(url, timeout_s=timeout_s), latency)


def diagnose(container, url, *, client=None, metrics=None, slow_ms=200.0):
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
