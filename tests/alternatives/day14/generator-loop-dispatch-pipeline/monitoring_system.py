"""Monitoring loop, generator style: a schedule of ticks, a summary folded over them."""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
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
        problems = []
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)) or not (0 < interval_s < math.inf):
            problems.append(f"interval_s={interval_s!r} must be a positive number")
        if max_iterations is not None and (isinstance(max_iterations, bool) or max_iterations < 1):
            problems.append(f"max_iterations={max_iterations!r} must be at least 1")
        if max_iterations is None and stop_event is None:
            problems.append("give max_iterations or stop_event: a loop must have a way to stop")
        if problems:
            raise ValueError("; ".join(problems))
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval, self._max, self._stop = float(interval_s), max_iterations, stop_event
        self._threshold, self._hours = sla_threshold_ms, window_hours

    def _metrics(self) -> dict[str, float]:
        latency = self._probe()
        metrics = {"up": 1.0 if latency is not None else 0.0}
        if latency is not None:
            metrics["latency_ms"] = latency
        sla = self._store.calculate_sla_compliance(latency_threshold_ms=self._threshold, hours=self._hours)
        if sla is not None:
            metrics["sla_compliance"] = sla
        p95 = self._store.latency_percentile(95.0, hours=self._hours)
        if p95 is not None:
            metrics["p95_latency_ms"] = p95
        return metrics

    def tick(self) -> TickReport:
        report = TickReport(started_at=self.clock(), metrics={})
        try:
            metrics = self._metrics()
            report = replace(report, metrics=metrics)
            return replace(report, notifications=list(self._alerter.evaluate(dict(metrics))))
        except Exception as exc:  # a collaborator's failure is one failed tick, not a dead loop
            log.error("tick failed", exc_info=True)
            return replace(report, error=f"{type(exc).__name__}: {exc}")

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _ticks(self) -> Iterator[TickReport]:
        numbers = range(1, self._max + 1) if self._max is not None else itertools.count(1)
        for number in numbers:
            if self._stopped():
                return
            report = self.tick()
            yield report
            if number != self._max:
                elapsed = self.clock() - report.started_at
                self.sleep(max(0.0, self._interval - elapsed))

    def run(self) -> RunSummary:
        count = sent = failed = 0
        last: dict[str, float] = {}
        for report in self._ticks():
            count += 1
            sent += len(report.notifications)
            failed += report.error is not None
            if report.error is None:
                last = report.metrics
        # Reaching max_iterations means no stop check came before a further tick: the count ended the loop.
        reason = STOPPED_BY_MAX_ITERATIONS if self._max is not None and count == self._max else STOPPED_BY_STOP_EVENT
        return RunSummary(count, sent, failed, reason, last)
