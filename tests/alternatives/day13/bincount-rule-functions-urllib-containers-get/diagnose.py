"""Alt A: high-level docker SDK (containers.get), urllib probe, a table of rule functions."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
import http.client
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


_ERROR_WORDS = re.compile(r"error|exception|traceback|fatal|panic", re.IGNORECASE)


def _oom(s, state, slow_ms):
    if state.get("OOMKilled"):
        return f"State.OOMKilled is true, exit code {state.get('ExitCode')}"


def _crash(s, state, slow_ms):
    restarts = s.inspect.get("RestartCount", 0) or 0
    if restarts >= 3 or state.get("Restarting"):
        return f"restarted {restarts} times (restarting={bool(state.get('Restarting'))})"


def _exited(s, state, slow_ms):
    if not state.get("Running") and not state.get("Restarting"):
        return f"status {state.get('Status')}, exit code {state.get('ExitCode')}"


def _unreachable(s, state, slow_ms):
    if s.health.status is None:
        return f"GET /health got no answer: {s.health.error}"


def _unhealthy(s, state, slow_ms):
    reasons = []
    if s.health.status is not None and s.health.status != 200:
        reasons.append(f"GET /health answered {s.health.status}")
    docker_health = (state.get("Health") or {}).get("Status")
    if docker_health == "unhealthy":
        reasons.append("Docker HEALTHCHECK reports unhealthy")
    return "; ".join(reasons) or None


def _slow(s, state, slow_ms):
    reasons = []
    if s.health.latency_ms is not None and s.health.latency_ms > slow_ms:
        reasons.append(f"/health took {s.health.latency_ms:.0f} ms")
    if s.latency_ms:
        p95 = float(np.percentile(list(s.latency_ms), 95))
        if p95 > slow_ms:
            reasons.append(f"stored p95 latency {p95:.0f} ms")
    if reasons:
        return ", ".join(reasons) + f" (budget {slow_ms:g} ms)"


def _logs(s, state, slow_ms):
    hits = [line for line in s.logs.splitlines() if _ERROR_WORDS.search(line)]
    if hits:
        return hits[-1]


_RULES = (("oom_killed", _oom), ("crash_loop", _crash), ("exited", _exited), ("unreachable", _unreachable),
          ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _logs))


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"Docker has no container {snapshot.container}")]
    state = snapshot.inspect.get("State") or {}
    findings = []
    for cause, rule in _RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence:
            findings.append(Finding(cause, evidence))
    return findings or [Finding("healthy", "container running, /health answered 200 in time, no error lines")]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer: report its status, do not follow it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    started = time.monotonic()
    try:
        with _OPENER.open(url.rstrip("/") + "/health", timeout=timeout_s) as resp:
            resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (OSError, http.client.HTTPException) as err:
        return HealthCheck(None, None, f"{type(err).__name__}: {err}")
    return HealthCheck(status, (time.monotonic() - started) * 1000.0)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    client = client or docker.from_env()
    try:
        found = client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    samples = ()
    if metrics is not None:
        samples = tuple(float(r["value"]) for r in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, check_health(url, timeout_s), samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms)
