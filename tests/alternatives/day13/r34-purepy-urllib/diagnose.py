"""Gather evidence, then rank causes: urllib for the probe, docker's high-level API, a table of rules."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
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


KEYWORDS = ("error", "exception", "traceback", "fatal", "panic")


def _p95(samples) -> float:
    ordered = sorted(float(s) for s in samples)
    pos = (len(ordered) - 1) * 0.95
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _oom(s, st, slow_ms):
    if st.get("OOMKilled") is True:
        return f"the kernel OOM-killed it (exit code {st.get('ExitCode')})"


def _crash(s, st, slow_ms):
    count = s.inspect.get("RestartCount") or 0
    if count >= 3 or st.get("Restarting"):
        return f"Docker restarted it {count} times (Restarting: {bool(st.get('Restarting'))})"


def _exited(s, st, slow_ms):
    if not st.get("Running") and not st.get("Restarting"):
        return f"not running (status {st.get('Status')}), exit code {st.get('ExitCode')}"


def _unreachable(s, st, slow_ms):
    if s.health.status is None:
        return f"no answer from /health: {s.health.error}"


def _unhealthy(s, st, slow_ms):
    docker_says = (st.get("Health") or {}).get("Status") == "unhealthy"
    answered_badly = s.health.status not in (None, 200)
    if not (docker_says or answered_badly):
        return None
    text = []
    if s.health.status is not None:
        text.append(f"/health status {s.health.status}")
    if docker_says:
        text.append("Docker HEALTHCHECK: unhealthy")
    return ", ".join(text)


def _slow(s, st, slow_ms):
    worst = []
    if s.health.latency_ms is not None and s.health.latency_ms > slow_ms:
        worst.append(("probe", s.health.latency_ms))
    if len(s.latency_ms) > 0:
        p95 = _p95(s.latency_ms)
        if p95 > slow_ms:
            worst.append(("stored p95", p95))
    if worst:
        return ", ".join(f"{name} {value:.0f} ms" for name, value in worst) + f" > {slow_ms} ms"


def _error_logs(s, st, slow_ms):
    last = None
    for line in s.logs.split("\n"):
        lowered = line.lower()
        if any(word in lowered for word in KEYWORDS):
            last = line
    if last is not None:
        return last


RULES: list[tuple[str, Callable]] = [
    ("oom_killed", _oom), ("crash_loop", _crash), ("exited", _exited), ("unreachable", _unreachable),
    ("unhealthy", _unhealthy), ("slow", _slow), ("error_logs", _error_logs),
]


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    found = []
    for cause, rule in RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            found.append(Finding(cause, evidence))
    found.sort(key=lambda f: CAUSES.index(f.cause))
    return found or [Finding("healthy", "checked state, restarts, /health status and latency, stored p95, logs")]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    began = time.monotonic()
    try:
        try:
            with _OPENER.open(url + "/health", timeout=timeout_s) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as answer:  # non-2xx answers, redirects included
            status = answer.code
            try:
                answer.read()
            finally:
                answer.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(int(status), (time.monotonic() - began) * 1000.0)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    inspect, logs = None, ""
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
        rows = metrics.get_recent_metrics("latency_ms", hours=hours)
        latency = tuple(row["value"] for row in rows)
    return Snapshot(container, inspect, logs, health, latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
