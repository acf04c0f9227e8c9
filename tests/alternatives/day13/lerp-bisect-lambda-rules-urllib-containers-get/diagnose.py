"""Why is the model server down or slow? Gather the evidence, then rank the causes.

Gathering (Docker's view of the container, its last log lines, a timed health
probe, recent latency from the monitoring store) is kept apart from judging
(`analyse`), so the judging can be tested on recorded snapshots and reused on
evidence gathered any other way (kubectl, a support bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
import http.client
import math
import time
import urllib.error
import urllib.request

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


_WORDS = ("error", "exception", "traceback", "fatal", "panic")


def _p95(samples) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    position = (len(ordered) - 1) * 0.95
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    frac = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * frac


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong.

    The README (task 3) gives the rule for each cause and what its evidence must quote.
    """
    if snapshot.inspect is None:
        return [Finding("not_found", f"no container named {snapshot.container}")]
    state = snapshot.inspect.get("State", {})
    count = snapshot.inspect.get("RestartCount", 0)
    health = snapshot.health
    p95 = _p95(snapshot.latency_ms)
    docker_health = state.get("Health", {}).get("Status")
    error_lines = [ln for ln in snapshot.logs.splitlines() if any(w in ln.lower() for w in _WORDS)]
    rules = {
        "oom_killed": (state.get("OOMKilled") is True, lambda: f"OOMKilled, exit code {state.get('ExitCode')}"),
        "crash_loop": (count >= 3 or state.get("Restarting") is True, lambda: f"RestartCount={count}"),
        "exited": (not state.get("Running") and not state.get("Restarting"),
                   lambda: f"{state.get('Status')} with exit code {state.get('ExitCode')}"),
        "unreachable": (health.status is None, lambda: f"no answer from /health: {health.error}"),
        "unhealthy": ((health.status is not None and health.status != 200) or docker_health == "unhealthy",
                      lambda: f"/health status {health.status}, docker health {docker_health}"),
        "slow": ((health.latency_ms is not None and health.latency_ms > slow_ms) or (p95 is not None and p95 > slow_ms),
                 lambda: ", ".join(s for s in (
                     f"/health {health.latency_ms:.0f} ms" if health.latency_ms is not None and health.latency_ms > slow_ms else "",
                     f"p95 {p95:.0f} ms" if p95 is not None and p95 > slow_ms else "") if s)),
        "error_logs": (bool(error_lines), lambda: error_lines[-1]),
    }
    found = [Finding(cause, rules[cause][1]()) for cause in CAUSES if cause in rules and rules[cause][0]]
    if not found:
        found = [Finding("healthy", "state, restarts, /health status and latency, stored p95 and logs all fine")]
    return found


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (a redirect's status is reported, not followed); never raises for a broken
    or hung server."""
    began = time.monotonic()
    try:
        with _OPENER.open(url + "/health", timeout=timeout_s) as response:
            status = response.status
            response.read()  # the answer has taken as long as its body
    except urllib.error.HTTPError as answer:
        status = answer.code
        try:
            answer.read()  # an error answer is timed to its end too
        except (http.client.HTTPException, OSError):
            pass  # a broken body still leaves its status to report
        finally:
            answer.close()
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        return HealthCheck(None, None, repr(exc))
    return HealthCheck(status, 1000.0 * (time.monotonic() - began))


def gather(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
           log_lines: int = 50, timeout_s: float = 2.0, hours: float = 1.0) -> Snapshot:
    """Collect a Snapshot: `docker inspect` and the last `log_lines` log lines of `container`
    (through `client`, a docker.DockerClient, default docker.from_env() made at call time), check_health(url),
    and the `latency_ms` samples of the last `hours` from `metrics` when given. Only docker's
    NotFound means "no such container"; any other Docker error, and an error of the store, propagates."""
    import docker
    from docker.errors import NotFound

    docker_client = client if client is not None else docker.from_env()
    try:
        found = docker_client.containers.get(container)
    except NotFound:
        inspect, logs = None, ""
    else:
        inspect = found.attrs
        logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode(errors="replace")
    latency: tuple[float, ...] = ()
    if metrics is not None:
        latency = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    health = check_health(url, timeout_s=timeout_s)
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=latency)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse(): the ranked findings for a live container."""
    snap = gather(container, url, client=client, metrics=metrics)
    return analyse(snap, slow_ms=slow_ms)
