"""A monitoring loop (style: stepwise metric building, for loop over itertools.count, a private tally object)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
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
        self.notifications += len(report.notifications)
        if report.error:
            self.errors += 1
        else:
            self.last_metrics = dict(report.metrics)

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, self.last_metrics)


class MonitoringSystem:
    def __init__(self, probe, store, alerter, *, clock=time.monotonic, sleep=time.sleep, interval_s=60.0,
                 max_iterations=None, stop_event=None, sla_threshold_ms=200.0, window_hours=1.0) -> None:
        if not interval_s > 0:  # NaN fails this comparison too
            raise ValueError("interval_s must be a positive number")
        if max_iterations is None:
            if stop_event is None:
                raise ValueError("give max_iterations or stop_event, or the loop never stops")
        elif max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self._probe = probe
        self._store = store
        self._alerter = alerter
        self._clock = clock
        self._sleep = sleep
        self._interval = float(interval_s)
        self._limit = max_iterations
        self._stop = stop_event
        self._threshold = sla_threshold_ms
        self._hours = window_hours

    def _collect(self, latency) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if latency is None:
            metrics["up"] = 0.0
        else:
            metrics["up"] = 1.0
            metrics["latency_ms"] = latency
        sla = self._store.calculate_sla_compliance(latency_threshold_ms=self._threshold, hours=self._hours)
        if sla is not None:
            metrics["sla_compliance"] = sla
        p95 = self._store.latency_percentile(95, hours=self._hours)
        if p95 is not None:
            metrics["p95_latency_ms"] = p95
        return metrics

    def _failed(self, started_at: float, error: Exception, where: str) -> TickReport:
        message = f"{error.__class__.__name__}: {error}"
        log.error("tick failed in the %s: %s\n%s", where, message, traceback.format_exc())
        return TickReport(started_at=started_at, metrics={}, error=message)

    def tick(self) -> TickReport:
        started_at = self._clock()
        try:
            latency = self._probe()
        except Exception as error:
            return self._failed(started_at, error, "probe")
        try:
            metrics = self._collect(latency)
            sent = self._alerter.evaluate(metrics)
        except Exception as error:
            return self._failed(started_at, error, "store or alerter")
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        tally = _Tally()
        for number in itertools.count(1):
            if self._stopped():
                return tally.summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            tally.add(report)
            if self._limit is not None and number == self._limit:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self._clock() - report.started_at
            self._sleep(max(0.0, self._interval - elapsed))
        raise AssertionError("unreachable")
