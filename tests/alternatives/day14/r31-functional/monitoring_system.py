"""A monitoring loop that can be stopped, tested and trusted to keep running."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("monitoring_system")

STOPPED_BY_MAX_ITERATIONS = "max_iterations"
STOPPED_BY_STOP_EVENT = "stop_event"


class MetricStore(Protocol):
    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None: ...

    def latency_percentile(self, q: float, hours: float = 24) -> float | None: ...


class Alerter(Protocol):
    def evaluate(self, metrics: Mapping[str, float]) -> list: ...


@dataclass(frozen=True)
class TickReport:
    started_at: float
    metrics: dict[str, float]
    notifications: list = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class RunSummary:
    iterations: int
    notifications: int
    errors: int
    stopped_by: str
    last_metrics: dict[str, float]


class MonitoringSystem:
    def __init__(
        self,
        probe: Callable[[], float | None],
        store: MetricStore,
        alerter: Alerter,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        interval_s: float = 60.0,
        max_iterations: int | None = None,
        stop_event: threading.Event | None = None,
        sla_threshold_ms: float = 200.0,
        window_hours: float = 1.0,
    ) -> None:
        problems = []
        if not interval_s > 0:  # NaN compares false too
            problems.append(f"interval_s={interval_s!r} must be a positive number")
        if max_iterations is not None and not max_iterations >= 1:
            problems.append(f"max_iterations={max_iterations!r} must be at least 1")
        if (max_iterations, stop_event) == (None, None):
            problems.append("give max_iterations or stop_event: a loop must have a way to stop")
        if problems:
            raise ValueError("; ".join(problems))
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval = float(interval_s)
        self._limit = max_iterations
        self._stop = stop_event
        self._sla = sla_threshold_ms
        self._hours = window_hours

    def _readings(self):
        latency = self._probe()
        yield "up", (1.0 if latency is not None else 0.0)
        yield "latency_ms", latency
        yield "sla_compliance", self._store.calculate_sla_compliance(latency_threshold_ms=self._sla, hours=self._hours)
        yield "p95_latency_ms", self._store.latency_percentile(95.0, hours=self._hours)

    def tick(self) -> TickReport:
        started_at = self.clock()
        metrics: dict[str, float] = {}
        try:
            metrics = {key: value for key, value in self._readings() if value is not None}
            sent = self._alerter.evaluate(dict(metrics))
            return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or ()))
        except Exception as exc:  # a collaborator failed: report it, keep the loop alive
            error = "%s: %s" % (exc.__class__.__name__, exc)
            log.warning("tick failed (%s)", error, exc_info=True)
            return TickReport(started_at=started_at, metrics=metrics, error=error)

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        counts = {"iterations": 0, "notifications": 0, "errors": 0}
        last: dict[str, float] = {}
        stopped_by = STOPPED_BY_STOP_EVENT
        ticks = itertools.count(1) if self._limit is None else range(1, self._limit + 1)
        for number in ticks:
            if self._stopped():
                break
            report = self.tick()
            counts["iterations"] += 1
            counts["notifications"] += len(report.notifications)
            counts["errors"] += report.error is not None
            if report.error is None:
                last = dict(report.metrics)
            if number == self._limit:
                stopped_by = STOPPED_BY_MAX_ITERATIONS
                break
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self._interval - elapsed))
        return RunSummary(stopped_by=stopped_by, last_metrics=last, **counts)
