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
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval = float(interval_s)
        self._limit = max_iterations
        self._stop = stop_event
        self._threshold = sla_threshold_ms
        self._hours = window_hours

    def _measure(self) -> dict[str, float]:
        latency = self._probe()
        readings = {
            "up": 1.0 if latency is not None else 0.0,
            "latency_ms": latency,
            "sla_compliance": self._store.calculate_sla_compliance(self._threshold, self._hours),
            "p95_latency_ms": self._store.latency_percentile(95, self._hours),
        }
        return {key: value for key, value in readings.items() if value is not None}

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator."""
        started_at = self.clock()
        metrics: dict[str, float] = {}
        try:
            metrics = self._measure()
            sent = self._alerter.evaluate(metrics)
        except Exception as exc:
            log.warning("tick failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            return TickReport(started_at=started_at, metrics=metrics, error=f"{type(exc).__name__}: {exc}")
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or ()))

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = {"iterations": 0, "notifications": 0, "errors": 0}
        last_good: TickReport | None = None

        def summary(stopped_by: str) -> RunSummary:
            metrics = dict(last_good.metrics) if last_good is not None else {}
            return RunSummary(stopped_by=stopped_by, last_metrics=metrics, **tally)

        for count in itertools.count(1):
            if self._stopped():
                return summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally["iterations"] = count
            if report.error is None:
                tally["notifications"] += len(report.notifications)
                last_good = report
            else:
                tally["errors"] += 1
            if self._limit is not None and count >= self._limit:
                return summary(STOPPED_BY_MAX_ITERATIONS)
            self.sleep(max(0.0, self._interval - (self.clock() - report.started_at)))
        raise AssertionError("unreachable")
