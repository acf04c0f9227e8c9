"""Diagnosis as a table of rules, urllib for the probe, docker's high-level API for the evidence."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

import numpy

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


def _oom(s, state, slow_ms):
    if state.get("OOMKilled") is True:
        return f"the kernel OOM-killed it (exit code {state.get('ExitCode')})"


def _crash_loop(s, state, slow_ms):
    count = s.inspect.get("RestartCount") or 0
    if count >= 3 or state.get("Restarting"):
        return f"RestartCount={count}, Restarting={bool(state.get('Restarting'))}"


def _exited(s, state, slow_ms):
    if not state.get("Running", False) and not state.get("Restarting", False):
        return f"not running ({state.get('Status')}), ExitCode={state.get('ExitCode')}"


def _unreachable(s, state, slow_ms):
    if s.health.status is None:
        return f"no answer from /health: {s.health.error}"


def _unhealthy(s, state, slow_ms):
    reasons = []
    if s.health.status is not None and s.health.status != 200:
        reasons.append(f"/health answered HTTP {s.health.status}")
    if "Health" in state and state["Health"].get("Status") == "unhealthy":
        reasons.append(f"Docker HEALTHCHECK unhealthy (failing streak {state['Health'].get('FailingStreak')})")
    return ", ".join(reasons) or None


def _slow(s, state, slow_ms):
    offending = []
    if s.health.latency_ms is not None and s.health.latency_ms > slow_ms:
        offending.append(("probe", s.health.latency_ms))
    if len(s.latency_ms) > 0:
        p95 = float(numpy.percentile(numpy.asarray(s.latency_ms, dtype=float), 95))
        if p95 > slow_ms:
            offending.append(("stored p95", p95))
    if offending:
        return ", ".join(f"{what} {value:.0f} ms > {slow_ms:g} ms" for what, value in offending)


def _error_logs(s, state, slow_ms):
    last = None
    for line in s.logs.splitlines():
        lower = line.lower()
        if any(word in lower for word in ERROR_WORDS):
            last = line
    if last is not None:
        return f"last error line: {last}"


RULES = {"oom_killed": _oom, "crash_loop": _crash_loop, "exited": _exited, "unreachable": _unreachable,
         "unhealthy": _unhealthy, "slow": _slow, "error_logs": _error_logs}


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    state = snapshot.inspect.get("State") or {}
    findings = []
    for cause in CAUSES:
        rule = RULES.get(cause)
        if rule is None:
            continue
        evidence = rule(snapshot, state, slow_ms)
        if evidence:
            findings.append(Finding(cause, evidence))
    if not findings:
        findings.append(Finding("healthy", f"state {state.get('Status')}, /health {snapshot.health.status}, "
                                           f"{len(snapshot.latency_ms)} latency samples, logs clean"))
    return findings


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # report the redirect itself: one GET


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    began = time.monotonic()
    try:
        with _OPENER.open(url + "/health", timeout=timeout_s) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as answer:
        status = answer.code
        answer.close()
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        return HealthCheck(status=None, latency_ms=None, error=repr(exc))
    return HealthCheck(status=status, latency_ms=(time.monotonic() - began) * 1000)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        found = None
    if found is None:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode(errors="replace")
    latency: list[float] = []
    if metrics is not None:
        for row in metrics.get_recent_metrics("latency_ms", hours=hours):
            latency.append(float(row["value"]))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=check_health(url, timeout_s=timeout_s),
                    latency_ms=tuple(latency))


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
