"""Monitoring loop, written as a small scheduler object plus a metric collector."""

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


class _Tally:
    """What one run() has seen so far."""

    def __init__(self) -> None:
        self.iterations = 0
        self.notifications = 0
        self.errors = 0
        self.last_metrics: dict[str, float] = {}

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications)
        if report.error:
            self.errors += 1
        if report.error is None:
            self.last_metrics = dict(report.metrics)

    def close(self, why: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, why, self.last_metrics)


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
        if not interval_s > 0:  # False for NaN too
            raise ValueError("interval_s must be a positive number")
        if max_iterations is None:
            if stop_event is None:
                raise ValueError("refusing a loop that can never stop: give max_iterations or stop_event")
        elif max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s = float(interval_s)
        self.max_iterations = max_iterations
        self.stop_event = stop_event
        self.sla_threshold_ms = sla_threshold_ms
        self.window_hours = window_hours

    def _collect(self) -> dict[str, float]:
        latency = self.probe()
        readings = [
            ("up", 1.0 if latency is not None else 0.0),
            ("latency_ms", latency),
            ("sla_compliance", self.store.calculate_sla_compliance(latency_threshold_ms=self.sla_threshold_ms,
                                                                   hours=self.window_hours)),
            ("p95_latency_ms", self.store.latency_percentile(q=95, hours=self.window_hours)),
        ]
        out = {}
        for name, value in readings:
            if value is None:
                continue
            out[name] = value
        return out

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = self._collect()
            sent = self.alerter.evaluate(metrics)
        except Exception as error:  # KeyboardInterrupt / SystemExit pass through
            log.warning("tick failed: %s: %s", type(error).__name__, error, exc_info=True)
            return TickReport(started_at=started_at, metrics={}, error=f"{type(error).__name__}: {error}")
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def run(self) -> RunSummary:
        tally = _Tally()
        for number in itertools.count(1):
            if self._stop_requested():
                return tally.close(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally.add(report)
            if self.max_iterations is not None and number == self.max_iterations:
                return tally.close(STOPPED_BY_MAX_ITERATIONS)
            next_start = report.started_at + self.interval_s
            self.sleep(max(0.0, next_start - self.clock()))
        raise AssertionError("unreachable")
