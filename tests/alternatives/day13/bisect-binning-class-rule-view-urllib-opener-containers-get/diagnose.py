"""Diagnosis as a small rule engine: one rule object per cause, urllib for the probe, docker's high-level API."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import numpy

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


class _View:
    """The snapshot's facts, read once."""

    def __init__(self, snapshot: Snapshot, slow_ms: float):
        self.snapshot = snapshot
        self.slow_ms = slow_ms
        info = snapshot.inspect or {}
        self.state = info.get("State") or {}
        self.restarts = int(info.get("RestartCount") or 0)
        self.exit_code = self.state.get("ExitCode")
        self.running = bool(self.state.get("Running"))
        self.restarting = bool(self.state.get("Restarting"))
        self.docker_health = (self.state.get("Health") or {}).get("Status")
        self.probe = snapshot.health
        self.p95 = numpy.percentile(list(snapshot.latency_ms), 95) if snapshot.latency_ms else None


def _oom(v: _View) -> Optional[str]:
    return f"the kernel OOM-killed it (OOMKilled), exit code {v.exit_code}" if v.state.get("OOMKilled") else None


def _crash(v: _View) -> Optional[str]:
    if v.restarts >= 3 or v.restarting:
        return f"Docker restarted it {v.restarts} times" + (" and is restarting it now" if v.restarting else "")
    return None


def _exited(v: _View) -> Optional[str]:
    if not v.running and not v.restarting:
        return f"it is not running ({v.state.get('Status')}); exit code {v.exit_code}"
    return None


def _unreachable(v: _View) -> Optional[str]:
    return f"no answer from /health: {v.probe.error}" if v.probe.status is None else None


def _unhealthy(v: _View) -> Optional[str]:
    reasons = []
    if v.probe.status is not None and v.probe.status != 200:
        reasons.append(f"/health answered HTTP {v.probe.status}")
    if v.docker_health == "unhealthy":
        reasons.append("Docker HEALTHCHECK status is unhealthy")
    return ", ".join(reasons) or None


def _slow(v: _View) -> Optional[str]:
    if v.probe.latency_ms is not None and v.probe.latency_ms > v.slow_ms:
        return f"/health answered after {v.probe.latency_ms:.0f} ms, over the {v.slow_ms} ms budget"
    if v.p95 is not None and v.p95 > v.slow_ms:
        return f"the stored latency's p95 is {v.p95:.0f} ms, over the {v.slow_ms} ms budget"
    return None


def _error_logs(v: _View) -> Optional[str]:
    last = None
    for line in v.snapshot.logs.split("\n"):
        low = line.lower()
        if any(k in low for k in KEYWORDS):
            last = line
    return None if last is None else f"log line: {last}"


RULES: tuple[tuple[str, Callable[[_View], Optional[str]]], ...] = (
    ("oom_killed", _oom), ("crash_loop", _crash), ("exited", _exited), ("unreachable", _unreachable),
    ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs),
)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    view = _View(snapshot, slow_ms)
    found = [Finding(cause, ev) for cause, rule in RULES if (ev := rule(view)) is not None]
    if not found:
        found = [Finding("healthy", "state, restarts, /health status and latency, stored p95 and logs all fine")]
    return found


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    began = time.monotonic()
    try:
        try:
            with _OPENER.open(url + "/health", timeout=timeout_s) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as answer:
            with answer:
                answer.read()
            status = answer.code
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(status, (time.monotonic() - began) * 1e3)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        attrs, text = None, ""
    else:
        attrs = found.attrs
        raw = found.logs(stdout=True, stderr=True, tail=log_lines)
        text = raw.decode("utf-8", "replace")
    probe = check_health(url, timeout_s=timeout_s)
    samples: tuple[float, ...] = ()
    if metrics is not None:
        rows = metrics.get_recent_metrics("latency_ms", hours=hours)
        samples = tuple(r["value"] for r in rows)
    return Snapshot(container=container, inspect=attrs, logs=text, health=probe, latency_ms=samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
