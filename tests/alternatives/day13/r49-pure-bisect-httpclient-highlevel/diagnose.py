"""Why is the model server down or slow? Gather the evidence (http.client, docker's high-level API), then rank."""

from __future__ import annotations

import http.client
import math
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Protocol

CAUSES = ("not_found", "oom_killed", "crash_loop", "exited", "unreachable", "unhealthy", "slow",
          "error_logs", "healthy")

_MARKERS = ("error", "exception", "traceback", "fatal", "panic")


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
    """Linear-interpolated 95th percentile, as numpy.percentile computes it."""
    xs = sorted(float(s) for s in samples)
    pos = (len(xs) - 1) * 0.95
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    frac = pos - lo
    return xs[lo] + (xs[hi] - xs[lo]) * frac


def _oom(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    if state.get("OOMKilled") is True:
        return f"killed out of memory (OOMKilled), exit code {state.get('ExitCode')}"
    return None


def _crash_loop(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    count = s.inspect.get("RestartCount") or 0
    if count >= 3 or state.get("Restarting"):
        return f"RestartCount={count}" + (" and restarting now" if state.get("Restarting") else "")
    return None


def _exited(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    if not state.get("Running") and not state.get("Restarting"):
        return f"not running (status {state.get('Status')}), ExitCode={state.get('ExitCode')}"
    return None


def _unreachable(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    return None if s.health.status is not None else f"no answer from /health: {s.health.error}"


def _unhealthy(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    notes = []
    if s.health.status is not None and s.health.status != 200:
        notes.append(f"/health answered HTTP {s.health.status}")
    hc = state.get("Health")
    if isinstance(hc, dict) and hc.get("Status") == "unhealthy":
        notes.append(f"/health answered HTTP {s.health.status}" if s.health.status == 200 else "")
        notes.append("Docker HEALTHCHECK reports unhealthy")
    notes = [n for n in notes if n]
    return ", ".join(notes) if notes else None


def _slow(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    notes = []
    if s.health.latency_ms is not None and s.health.latency_ms > slow_ms:
        notes.append(f"probe latency {s.health.latency_ms:.0f} ms")
    if s.latency_ms:
        p95 = _p95(s.latency_ms)
        if p95 > slow_ms:
            notes.append(f"p95 of {len(s.latency_ms)} stored samples {p95:.0f} ms")
    return (" and ".join(notes) + f" > {slow_ms:g} ms") if notes else None


def _error_logs(s: Snapshot, state: dict, slow_ms: float) -> str | None:
    last = None
    for line in s.logs.splitlines():
        low = line.lower()
        if any(m in low for m in _MARKERS):
            last = line
    return last.strip() if last is not None else None


_RULES: list[tuple[str, Callable]] = [("oom_killed", _oom), ("crash_loop", _crash_loop), ("exited", _exited),
                                      ("unreachable", _unreachable), ("unhealthy", _unhealthy), ("slow", _slow),
                                      ("error_logs", _error_logs)]


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named or with id {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    found = []
    for cause, rule in _RULES:
        evidence = rule(snapshot, state, slow_ms)
        if evidence is not None:
            found.append(Finding(cause, evidence))
    if found:
        return found
    return [Finding("healthy", "checked: container state, restarts, OOM flag, /health status and latency, "
                               "stored p95 latency, log lines")]


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    parts = urllib.parse.urlsplit(url)
    path = (parts.path.rstrip("/") or "") + "/health"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        t0 = time.monotonic()
        conn.request("GET", path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        resp.read()
        took = (time.monotonic() - t0) * 1000
        return HealthCheck(resp.status, took)
    except (OSError, http.client.HTTPException, socket.timeout) as exc:
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}" or "no answer")
    except Exception as exc:  # never raise for a broken server
        return HealthCheck(None, None, repr(exc))
    finally:
        conn.close()


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    import docker
    import docker.errors

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
        attrs = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
    except docker.errors.NotFound:
        attrs, logs = None, ""
    health = check_health(url, timeout_s)
    latency = () if metrics is None else tuple(r["value"] for r in metrics.get_recent_metrics("latency_ms", hours))
    return Snapshot(container=container, inspect=attrs, logs=logs, health=health, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms)
