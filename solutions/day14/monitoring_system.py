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
        if not interval_s > 0:  # `not > 0` also refuses NaN, which `<= 0` lets through (and would spin)
            raise ValueError(f"interval_s must be > 0, not {interval_s}")
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1 or None, not {max_iterations}")
        if max_iterations is None and stop_event is None:
            raise ValueError("give max_iterations or stop_event: a monitor loop needs a way to stop")
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
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator."""
        started = self.clock()
        try:
            metrics = self._metrics()
            notifications = list(self.alerter.evaluate(metrics))
        except Exception as exc:  # a monitor that dies on one bad tick monitors nothing
            log.exception("monitoring tick failed")
            return TickReport(started, {}, [], f"{exc.__class__.__name__}: {exc}")
        return TickReport(started, metrics, notifications)

    def _metrics(self) -> dict[str, float]:
        latency = self.probe()
        metrics = {"up": 0.0 if latency is None else 1.0}
        window = {
            "latency_ms": latency,
            "sla_compliance": self.store.calculate_sla_compliance(self.sla_threshold_ms, self.window_hours),
            "p95_latency_ms": self.store.latency_percentile(95, self.window_hours),
        }
        # No data is not zero: a missing value is left out, never sent as 0 or None.
        metrics.update({name: float(value) for name, value in window.items() if value is not None})
        return metrics

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        iterations = notifications = errors = 0
        last_metrics: dict[str, float] = {}

        def summary(stopped_by: str) -> RunSummary:
            return RunSummary(iterations, notifications, errors, stopped_by, last_metrics)

        while True:
            if self.stop_event is not None and self.stop_event.is_set():
                return summary(STOPPED_BY_STOP_EVENT)
            report = self.tick()
            iterations += 1
            notifications += len(report.notifications)
            if report.error is None:
                last_metrics = report.metrics
            else:
                errors += 1
            if self.max_iterations is not None and iterations >= self.max_iterations:
                return summary(STOPPED_BY_MAX_ITERATIONS)
            # Fixed rate: the tick's own duration comes off the pause, and never below zero.
            self.sleep(max(0.0, self.interval_s - (self.clock() - report.started_at)))
