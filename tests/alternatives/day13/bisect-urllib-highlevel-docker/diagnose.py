"""Rule table + urllib probe + docker high-level API."""
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


def _p95(samples) -> float:
    xs = sorted(float(s) for s in samples)
    h = (len(xs) - 1) * 0.95
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (h - lo)


def _rules(s: Snapshot, slow_ms: float):
    ins = s.inspect
    st = ins.get("State") or {}
    restarts = ins.get("RestartCount") or 0
    h = s.health
    yield "oom_killed", bool(st.get("OOMKilled")), lambda: f"killed for memory, exit code {st.get('ExitCode')}"
    yield "crash_loop", restarts >= 3 or bool(st.get("Restarting")), lambda: f"RestartCount={restarts}"
    yield ("exited", not st.get("Running") and not st.get("Restarting"),
           lambda: f"not running, ExitCode={st.get('ExitCode')}")
    yield "unreachable", h.status is None, lambda: f"no answer from /health ({h.error})"
    dh = (st.get("Health") or {}).get("Status")
    yield ("unhealthy", (h.status is not None and h.status != 200) or dh == "unhealthy",
           lambda: f"/health status {h.status}, HEALTHCHECK {dh}")
    slow = []
    if h.latency_ms is not None and h.latency_ms > slow_ms:
        slow.append(f"probe {h.latency_ms:.0f} ms")
    if s.latency_ms:
        p = _p95(s.latency_ms)
        if p > slow_ms:
            slow.append(f"p95 {p:.0f} ms")
    yield "slow", bool(slow), lambda: ", ".join(slow) + f" > {slow_ms:g} ms"
    bad = [ln for ln in s.logs.splitlines() if any(w in ln.lower() for w in ERROR_WORDS)]
    yield "error_logs", bool(bad), lambda: bad[-1] if bad else ""


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no such container: {snapshot.container}")]
    found = [Finding(cause, evidence()) for cause, applies, evidence in _rules(snapshot, slow_ms) if applies]
    return found or [Finding("healthy", "checked state, restarts, /health status and latency, p95, logs")]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer: report its status, do not follow it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    started = time.monotonic()
    try:
        with _OPENER.open(url.rstrip("/") + "/health", timeout=timeout_s) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(status, (time.monotonic() - started) * 1000)


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    from docker.errors import NotFound

    if client is None:
        client = docker.from_env()
    try:
        found = client.containers.get(container)
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", errors="replace")
    except NotFound:
        inspect, logs = None, ""
    latency = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container, inspect, logs, check_health(url, timeout_s=timeout_s), latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    return analyse(gather(container, url, client=client, metrics=metrics), slow_ms=slow_ms)
