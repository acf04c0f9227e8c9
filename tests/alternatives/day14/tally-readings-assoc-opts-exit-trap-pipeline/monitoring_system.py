"""Monitoring loop: a scheduler object drives ticks; each tick is a small pipeline of readings."""

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


@dataclass
class _Tally:
    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_metrics: dict = field(default_factory=dict)

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications or ())
        if report.error:
            self.errors += 1
        if report.error is None:
            self.last_metrics = dict(report.metrics)

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, self.last_metrics)


class MonitoringSystem:
    def __init__(self, probe, store, alerter, *, clock=time.monotonic, sleep=time.sleep, interval_s=60.0,
                 max_iterations=None, stop_event=None, sla_threshold_ms=200.0, window_hours=1.0) -> None:
        if not interval_s > 0:  # NaN compares false, so it lands here too
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if max_iterations is None:
            if stop_event is None:
                raise ValueError("a loop without max_iterations needs a stop_event")
        elif not max_iterations >= 1:
            raise ValueError(f"max_iterations must be >= 1, got {max_iterations}")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _readings(self):
        latency = self.probe()
        yield "up", float(latency is not None)
        yield "latency_ms", latency
        yield "sla_compliance", self.store.calculate_sla_compliance(latency_threshold_ms=self.sla_threshold_ms,
                                                                    hours=self.window_hours)
        yield "p95_latency_ms", self.store.latency_percentile(q=95, hours=self.window_hours)

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = {}
            for key, value in self._readings():
                if value is not None:
                    metrics[key] = value
            sent = self.alerter.evaluate(metrics)
            return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))
        except Exception as exc:  # noqa: BLE001 - a collaborator's bug must not end the loop
            log.warning("tick failed: %s", exc, exc_info=True)
            return TickReport(started_at=started_at, metrics={}, error=f"{exc.__class__.__name__}: {exc}")

    def _stop_requested(self) -> bool:
        return bool(self.stop_event and self.stop_event.is_set())

    def run(self) -> RunSummary:
        tally = _Tally()
        limit = self.max_iterations
        for number in itertools.count(1):
            if self._stop_requested():
                return tally.summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally.add(report)
            if limit is not None and number == limit:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self.clock() - report.started_at
            self.sleep(max(0, self.interval_s - elapsed))
        raise AssertionError("unreachable")
