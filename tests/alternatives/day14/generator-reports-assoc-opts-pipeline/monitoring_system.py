"""A monitoring loop that can be stopped, tested and trusted to keep running."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
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
        if not interval_s > 0:  # False for NaN as well
            raise ValueError("interval_s must be > 0")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError("max_iterations must be >= 1")
        if (max_iterations, stop_event) == (None, None):
            raise ValueError("give max_iterations or stop_event, or the loop never stops")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _metrics(self) -> dict[str, float]:
        latency = self.probe()
        pairs = [("up", float(latency is not None)), ("latency_ms", latency)]
        pairs.append(("sla_compliance", self.store.calculate_sla_compliance(
            latency_threshold_ms=self.sla_threshold_ms, hours=self.window_hours)))
        pairs.append(("p95_latency_ms", self.store.latency_percentile(95.0, hours=self.window_hours)))
        return {name: value for name, value in pairs if value is not None}

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = self._metrics()
            return TickReport(started_at, metrics, list(self.alerter.evaluate(metrics)))
        except Exception as exc:  # noqa: BLE001 - a tick must not end the loop
            message = f"{exc.__class__.__name__}: {exc}"
            log.error("tick failed: %s", message)
            return TickReport(started_at, {}, [], message)

    def _stopped(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _reports(self) -> Iterator[TickReport]:
        ticks = itertools.count(1) if self.max_iterations is None else range(1, self.max_iterations + 1)
        for n in ticks:
            if self._stopped():
                return
            report = self.tick()
            yield report
            if n == self.max_iterations:
                return
            self.sleep(max(0, self.interval_s - (self.clock() - report.started_at)))

    def run(self) -> RunSummary:
        tally: Counter[str] = Counter()
        last: dict[str, float] = {}
        for report in self._reports():
            tally.update(ticks=1, sent=len(report.notifications), errors=report.error is not None)
            if report.error is None:
                last = report.metrics
        stopped_by = STOPPED_BY_MAX_ITERATIONS if tally["ticks"] == self.max_iterations else STOPPED_BY_STOP_EVENT
        return RunSummary(tally["ticks"], tally["sent"], tally["errors"], stopped_by, last)
