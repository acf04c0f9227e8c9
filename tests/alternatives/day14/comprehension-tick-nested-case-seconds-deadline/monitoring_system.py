"""A monitoring loop that can be stopped, tested and trusted to keep running."""

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
        if math.isnan(interval_s) or interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {max_iterations!r}")
        if max_iterations is None and stop_event is None:
            raise ValueError("a loop needs max_iterations or a stop_event to stop")
        self.probe = probe
        self.store = store
        self.alerter = alerter
        self.clock = clock
        self.sleep = sleep
        self.interval_s = interval_s
        self.max_iterations = max_iterations
        self.stop_event = stop_event
        self.sla_threshold_ms = sla_threshold_ms
        self.window_hours = window_hours

    def tick(self) -> TickReport:
        started = self.clock()
        metrics: dict[str, float] = {}
        try:
            latency = self.probe()
            metrics["up"] = 0.0 if latency is None else 1.0
            candidates = {
                "latency_ms": latency,
                "sla_compliance": self.store.calculate_sla_compliance(self.sla_threshold_ms, self.window_hours),
                "p95_latency_ms": self.store.latency_percentile(95, self.window_hours),
            }
            metrics.update({k: v for k, v in candidates.items() if v is not None})
            notifications = list(self.alerter.evaluate(metrics))
        except Exception as exc:
            log.exception("monitoring tick failed: %s", exc)
            return TickReport(started, metrics, [], f"{type(exc).__name__}: {exc}")
        return TickReport(started, metrics, notifications)

    def run(self) -> RunSummary:
        iterations = notifications = errors = 0
        last: dict[str, float] = {}

        def summary(reason: str) -> RunSummary:
            return RunSummary(iterations, notifications, errors, reason, last)

        while True:
            if self.stop_event is not None and self.stop_event.is_set():
                return summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            iterations += 1
            notifications += len(report.notifications)
            errors += report.error is not None
            if report.error is None:
                last = report.metrics
            if self.max_iterations is not None and iterations >= self.max_iterations:
                return summary(STOPPED_BY_MAX_ITERATIONS)
            self.sleep(max(0.0, self.interval_s - (self.clock() - report.started_at)))
