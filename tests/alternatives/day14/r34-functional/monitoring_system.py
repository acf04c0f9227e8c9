"""A monitoring loop that can be stopped, tested and trusted to keep running (collector-table style)."""

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
    def __init__(self, probe, store, alerter, *, clock=time.monotonic, sleep=time.sleep, interval_s=60.0,
                 max_iterations=None, stop_event=None, sla_threshold_ms=200.0, window_hours=1.0) -> None:
        if not interval_s > 0:  # NaN compares False with everything
            raise ValueError("interval_s must be a positive number")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError("max_iterations must be at least 1")
        if (max_iterations, stop_event) == (None, None):
            raise ValueError("give max_iterations or stop_event: a loop must be able to stop")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _collectors(self) -> list[tuple[str, Callable[[], object]]]:
        return [
            ("sla_compliance", lambda: self.store.calculate_sla_compliance(
                latency_threshold_ms=self.sla_threshold_ms, hours=self.window_hours)),
            ("p95_latency_ms", lambda: self.store.latency_percentile(95.0, hours=self.window_hours)),
        ]

    def _measure(self) -> dict:
        latency = self.probe()
        metrics = {"up": float(latency is not None)}
        if latency is not None:
            metrics["latency_ms"] = latency
        for name, read in self._collectors():
            value = read()
            if value is not None:
                metrics[name] = value
        return metrics

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = self._measure()
            sent = self.alerter.evaluate(metrics)
        except Exception as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
            log.warning("tick failed: %s", error)
            return TickReport(started_at=started_at, metrics={}, notifications=[], error=error)
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _stopping(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def run(self) -> RunSummary:
        tally = _Tally()
        limit = itertools.count(1) if self.max_iterations is None else range(1, self.max_iterations + 1)
        stopped_by = STOPPED_BY_MAX_ITERATIONS
        for number in limit:
            if self._stopping():
                stopped_by = STOPPED_BY_STOP_EVENT
                break
            report = self.tick()
            tally.add(report)
            if number == self.max_iterations:
                break
            elapsed = self.clock() - report.started_at
            self.sleep(max(0, self.interval_s - elapsed))
        return RunSummary(tally.iterations, tally.notifications, tally.errors, stopped_by, dict(tally.last_metrics))


@dataclass
class _Tally:
    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_metrics: dict = field(default_factory=dict)

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications)
        if report.error is None:
            self.last_metrics = report.metrics
        else:
            self.errors += 1
