"""Monitoring loop: generator of tick reports, counted with a tally."""

from __future__ import annotations

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


_METRIC_READERS = (
    ("sla_compliance", lambda s: s.store.calculate_sla_compliance(s.sla_threshold_ms, s.window_hours)),
    ("p95_latency_ms", lambda s: s.store.latency_percentile(95, s.window_hours)),
)


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
        if not interval_s > 0:  # also false for NaN
            raise ValueError("interval_s must be a positive number")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError("max_iterations must be at least 1")
        if max_iterations is None and stop_event is None:
            raise ValueError("refusing a loop that never stops: give max_iterations or stop_event")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s = interval_s
        self.max_iterations = max_iterations
        self.stop_event = stop_event
        self.sla_threshold_ms = sla_threshold_ms
        self.window_hours = window_hours

    def _collect(self) -> dict:
        latency = self.probe()
        raw = {"up": 1.0 if latency is not None else 0.0, "latency_ms": latency}
        for name, read in _METRIC_READERS:
            raw[name] = read(self)
        return {k: v for k, v in raw.items() if v is not None}

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = self._collect()
            sent = list(self.alerter.evaluate(metrics))
            return TickReport(started_at=started_at, metrics=dict(metrics), notifications=sent)
        except Exception as exc:  # noqa: BLE001 - one failing tick must not end the loop
            message = f"{type(exc).__name__}: {exc}"
            log.exception("tick failed: %s", message)
            return TickReport(started_at=started_at, metrics={}, error=message)

    def _reports(self):
        count = 0
        while not (self.stop_event is not None and self.stop_event.is_set()):
            report = self.tick()
            count += 1
            yield report
            if self.max_iterations is not None and count >= self.max_iterations:
                return
            self.sleep(max(0.0, self.interval_s - (self.clock() - report.started_at)))

    def run(self) -> RunSummary:
        tally = {"iterations": 0, "notifications": 0, "errors": 0}
        last: dict = {}
        for report in self._reports():
            tally["iterations"] += 1
            tally["notifications"] += len(report.notifications)
            if report.error:
                tally["errors"] += 1
            else:
                last = report.metrics
        reached = self.max_iterations is not None and tally["iterations"] >= self.max_iterations
        stopped_by = STOPPED_BY_MAX_ITERATIONS if reached else STOPPED_BY_STOP_EVENT
        return RunSummary(stopped_by=stopped_by, last_metrics=dict(last), **tally)
