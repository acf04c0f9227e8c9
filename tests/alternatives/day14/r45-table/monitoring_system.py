"""A monitoring loop that can be stopped, tested and trusted to keep running.

The loop every MLOps team writes first is `while True: probe(); time.sleep(60)`: it
never ends, cannot be tested without waiting, dies on the first exception, and crashes
or lies when the service is down (a missing latency is not a latency of 0). This one
takes its collaborators by injection: a probe, a metric store, an alerter, a clock and
a sleep function, and it always has a way to stop.
"""

from __future__ import annotations

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


import itertools
import math

# (metric name, how to read it from the system): each read once per tick, left out when None.
_WINDOW_METRICS: tuple[tuple[str, Callable[["MonitoringSystem"], float | None]], ...] = (
    ("sla_compliance", lambda s: s.store.calculate_sla_compliance(s.sla_threshold_ms, s.window_hours)),
    ("p95_latency_ms", lambda s: s.store.latency_percentile(95, s.window_hours)),
)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _validate(interval_s, max_iterations, stop_event) -> None:
    if isinstance(interval_s, float) and math.isnan(interval_s):
        raise ValueError("interval_s is NaN")
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if max_iterations is None:
        if stop_event is None:
            raise ValueError("neither max_iterations nor stop_event: this loop could never stop")
    elif max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")


@dataclass
class _Tally:
    """What one run() has seen so far; turned into a frozen RunSummary at the end."""

    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_good: dict = field(default_factory=dict)

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications)
        if report.error:
            self.errors += 1
        else:
            self.last_good = report.metrics

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, dict(self.last_good))


class MonitoringSystem:
    def __init__(self, probe, store, alerter, *, clock=time.monotonic, sleep=time.sleep, interval_s=60.0,
                 max_iterations=None, stop_event=None, sla_threshold_ms=200.0, window_hours=1.0) -> None:
        """interval_s <= 0 or NaN, max_iterations < 1, or neither max_iterations nor stop_event: ValueError."""
        _validate(interval_s, max_iterations, stop_event)
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _collect(self) -> dict:
        latency = self.probe()
        metrics = {"up": float(latency is not None)}
        if latency is not None:
            metrics["latency_ms"] = latency
        for name, read in _WINDOW_METRICS:
            value = read(self)
            if value is not None:
                metrics[name] = value
        return metrics

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator."""
        started_at = self.clock()
        try:
            metrics = self._collect()
            sent = self.alerter.evaluate(metrics)
        except Exception as exc:  # KeyboardInterrupt and SystemExit are BaseException: they go through
            log.exception("tick failed: %s", _describe(exc))
            return TickReport(started_at=started_at, metrics={}, notifications=[], error=_describe(exc))
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or ()), error=None)

    def _stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = _Tally()
        for number in itertools.count(1):
            if self._stop_requested():
                return tally.summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally.add(report)
            if number == self.max_iterations:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self.interval_s - elapsed))
        raise AssertionError("unreachable")
