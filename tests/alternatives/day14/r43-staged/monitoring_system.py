"""A monitoring loop that can be stopped, tested and trusted to keep running.

The loop every MLOps team writes first is `while True: probe(); time.sleep(60)`: it
never ends, cannot be tested without waiting, dies on the first exception, and crashes
or lies when the service is down (a missing latency is not a latency of 0). This one
takes its collaborators by injection: a probe, a metric store, an alerter, a clock and
a sleep function, and it always has a way to stop.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("monitoring_system")

STOPPED_BY_MAX_ITERATIONS = "max_iterations"
STOPPED_BY_STOP_EVENT = "stop_event"


class MetricStore(Protocol):
    """The part of the day-11 performance monitor the loop reads its window metrics from."""

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None: ...

    def latency_percentile(self, q: float, hours: float = 24) -> float | None: ...


class Alerter(Protocol):
    """The day-11 alert manager: decides what to send (first breach, cooldown, recovery) and sends it."""

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
        """interval_s <= 0 or NaN, max_iterations < 1, or neither max_iterations nor stop_event: ValueError."""
        problems = []
        if math.isnan(interval_s) or interval_s <= 0:
            problems.append("interval_s must be a positive number")
        if max_iterations is not None and max_iterations < 1:
            problems.append("max_iterations must be at least 1")
        if max_iterations is None and stop_event is None:
            problems.append("give max_iterations or stop_event: this loop could never stop")
        if problems:
            raise ValueError("; ".join(problems))
        self._collaborators = _Collaborators(probe, store, alerter)
        self.clock, self.sleep = clock, sleep
        self._interval_s = float(interval_s)
        self._limit = max_iterations
        self._stop = stop_event
        self._window = _Window(sla_threshold_ms, window_hours)

    # -- one tick, in stages --------------------------------------------------------------------
    def _measure(self) -> dict[str, float]:
        latency = self._collaborators.probe()
        readings: list[tuple[str, object]] = [("up", 1.0 if latency is not None else 0.0), ("latency_ms", latency)]
        readings += self._window.read(self._collaborators.store)
        return dict((name, value) for name, value in readings if value is not None)

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator."""
        started_at = self.clock()
        try:
            metrics = self._measure()
            sent = self._collaborators.alerter.evaluate(metrics)
        except Exception as exc:  # KeyboardInterrupt / SystemExit are BaseException: they go through
            log.warning("tick failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            return TickReport(started_at=started_at, metrics={}, notifications=[],
                              error="%s: %s" % (type(exc).__name__, exc))
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or ()))

    # -- the loop --------------------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = _Tally()
        for number in itertools.count(1):
            if self._stop_requested():
                return tally.summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally.add(report)
            if self._limit is not None and number == self._limit:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self._interval_s - elapsed))
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Collaborators:
    probe: Callable[[], float | None]
    store: MetricStore
    alerter: Alerter


@dataclass(frozen=True)
class _Window:
    sla_threshold_ms: float
    hours: float

    def read(self, store: MetricStore) -> list[tuple[str, object]]:
        return [("sla_compliance", store.calculate_sla_compliance(self.sla_threshold_ms, self.hours)),
                ("p95_latency_ms", store.latency_percentile(95, self.hours))]


@dataclass
class _Tally:
    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_good: dict = field(default_factory=dict)

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        if report.error is None:
            self.notifications += len(report.notifications)
            self.last_good = report.metrics
        else:
            self.errors += 1

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, dict(self.last_good))
