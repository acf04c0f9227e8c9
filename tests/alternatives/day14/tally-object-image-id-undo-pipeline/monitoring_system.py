"""A monitoring loop that can be stopped, tested and trusted (answer B: a metric table and a run-state object)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

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


@dataclass
class _Tally:
    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_metrics: dict = field(default_factory=dict)

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications)
        self.errors += report.error is not None
        if report.error is None:
            self.last_metrics = dict(report.metrics)

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, self.last_metrics)


class MonitoringSystem:
    def __init__(self, probe, store, alerter, *, clock=time.monotonic, sleep=time.sleep, interval_s=60.0,
                 max_iterations=None, stop_event=None, sla_threshold_ms=200.0, window_hours=1.0) -> None:
        if not interval_s > 0:
            raise ValueError("interval_s must be positive")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError("max_iterations must be at least 1")
        if max_iterations is None and stop_event is None:
            raise ValueError("give max_iterations or stop_event: a loop without a stop is refused")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _window_metrics(self):
        yield "sla_compliance", lambda: self.store.calculate_sla_compliance(
            latency_threshold_ms=self.sla_threshold_ms, hours=self.window_hours)
        yield "p95_latency_ms", lambda: self.store.latency_percentile(95.0, hours=self.window_hours)

    def tick(self) -> TickReport:
        started_at = self.clock()
        metrics: dict[str, float] = {}
        try:
            latency = self.probe()
            metrics["up"] = float(latency is not None)
            if latency is not None:
                metrics["latency_ms"] = latency
            for name, read in self._window_metrics():
                value = read()
                if value is not None:
                    metrics[name] = value
            sent = self.alerter.evaluate(dict(metrics))
            return TickReport(started_at, metrics, list(sent or []))
        except Exception as exc:  # KeyboardInterrupt / SystemExit go through
            error = f"{exc.__class__.__name__}: {exc}"
            log.error("tick failed: %s", error, exc_info=True)
            return TickReport(started_at, metrics, [], error)

    def _stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def run(self) -> RunSummary:
        tally = _Tally()
        counter = itertools.count(1) if self.max_iterations is None else range(1, self.max_iterations + 1)
        for n in counter:
            if self._stop_requested():
                return tally.summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally.add(report)
            if n == self.max_iterations:
                break
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self.interval_s - elapsed))
        return tally.summary(STOPPED_BY_MAX_ITERATIONS)
