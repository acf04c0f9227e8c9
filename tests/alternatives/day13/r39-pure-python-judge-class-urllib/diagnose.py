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

_ERROR_WORDS = ("error", "exception", "traceback", "fatal", "panic")

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


def analyse(snapshot: Snapshot, slow_ms: float = 200.0) -> list[Finding]:
    """Findings in CAUSES order (most likely root cause first); [healthy] when nothing is wrong.

    The README (task 3) gives the rule for each cause and what its evidence must quote.
    """
    return _Judge(snapshot, slow_ms).findings()


def _p95(samples) -> float:
    xs = sorted(float(x) for x in samples)
    h = (len(xs) - 1) * 0.95
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (h - lo)


class _Judge:
    """One method per cause, each returning its evidence or None; asked in CAUSES order."""

    def __init__(self, snapshot: Snapshot, slow_ms: float) -> None:
        self.snap = snapshot
        self.slow_ms = slow_ms
        self.state = (snapshot.inspect or {}).get("State") or {}
        self.health = snapshot.health

    def findings(self) -> list[Finding]:
        if self.snap.inspect is None:
            return [Finding("not_found", f"no container {self.snap.container} in Docker")]
        out = []
        for cause in CAUSES[1:-1]:
            evidence = getattr(self, cause)()
            if evidence is not None:
                out.append(Finding(cause, evidence))
        return out or [Finding("healthy", "checked: Docker state, restarts, /health status and latency, "
                                          "stored latency p95, log lines")]

    def oom_killed(self):
        if self.state.get("OOMKilled") is True:
            return f"killed out of memory (OOMKilled), exit code {self.state.get('ExitCode')}"
        return None

    def crash_loop(self):
        count = self.snap.inspect.get("RestartCount", 0) or 0
        if count >= 3 or self.state.get("Restarting") is True:
            return f"RestartCount {count}"
        return None

    def exited(self):
        if not self.state.get("Running") and not self.state.get("Restarting"):
            return f"status {self.state.get('Status')}, exit code {self.state.get('ExitCode')}"
        return None

    def unreachable(self):
        if self.health.status is None:
            return f"no answer from /health: {self.health.error}"
        return None

    def unhealthy(self):
        docker_says = (self.state.get("Health") or {}).get("Status") == "unhealthy"
        answered_bad = self.health.status is not None and self.health.status != 200
        if not (docker_says or answered_bad):
            return None
        text = f"/health status {self.health.status}"
        if docker_says:
            text += ", Docker HEALTHCHECK status unhealthy"
        return text

    def slow(self):
        offences = []
        if self.health.latency_ms is not None and self.health.latency_ms > self.slow_ms:
            offences.append(f"probe {self.health.latency_ms:.0f} ms")
        if self.snap.latency_ms:
            p95 = _p95(self.snap.latency_ms)
            if p95 > self.slow_ms:
                offences.append(f"stored p95 {p95:.0f} ms")
        return (", ".join(offences) + f" > {self.slow_ms:g} ms") if offences else None

    def error_logs(self):
        last = None
        for line in self.snap.logs.split("\n"):
            lowered = line.lower()
            if any(word in lowered for word in _ERROR_WORDS):
                last = line
        return None if last is None else f"last error line: {last.rstrip(chr(13))}"


def check_health(url: str, timeout_s: float = 2.0) -> HealthCheck:
    """One timed GET {url}/health (a redirect's status is reported, not followed); never raises for a broken
    or hung server."""
    opener = urllib.request.build_opener(_NoRedirect)
    started = time.monotonic()
    try:
        try:
            with opener.open(url.rstrip("/") + "/health" if False else f"{url}/health", timeout=timeout_s) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx, 5xx: answers
            status = err.code
            try:
                err.read()
            except Exception:
                pass
            err.close()
    except Exception as exc:  # refused, timed out, reset, not HTTP, broken off
        return HealthCheck(None, None, f"{type(exc).__name__}: {exc}")
    return HealthCheck(status, (time.monotonic() - started) * 1000.0)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


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
        if log_lines > 0:
            logs = found.logs(stdout=True, stderr=True, tail=log_lines).decode("utf-8", "replace")
        else:
            logs = ""
    health = check_health(url, timeout_s=timeout_s)
    samples: tuple = ()
    if metrics is not None:
        samples = tuple(row["value"] for row in metrics.get_recent_metrics("latency_ms", hours=hours))
    return Snapshot(container=container, inspect=inspect, logs=logs, health=health, latency_ms=samples)


def diagnose(container: str, url: str, *, client=None, metrics: MetricStore | None = None,
             slow_ms: float = 200.0) -> list[Finding]:
    """gather(), then analyse(): the ranked findings for a live container."""
    snapshot = gather(container, url, client=client, metrics=metrics)
    return analyse(snapshot, slow_ms=slow_ms)
