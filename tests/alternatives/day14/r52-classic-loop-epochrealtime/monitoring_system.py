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
        """interval_s <= 0 or NaN, max_iterations < 1, or neither max_iterations nor stop_event: ValueError."""
        if not (interval_s > 0):
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {max_iterations!r}")
        if max_iterations is None and stop_event is None:
            raise ValueError("a loop needs max_iterations or a stop_event")
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
        metrics: dict[str, float] = {}
        try:
            latency = self.probe()
            metrics["up"] = 0.0 if latency is None else 1.0
            if latency is not None:
                metrics["latency_ms"] = latency
            sla = self.store.calculate_sla_compliance(self.sla_threshold_ms, self.window_hours)
            if sla is not None:
                metrics["sla_compliance"] = sla
            p95 = self.store.latency_percentile(95, self.window_hours)
            if p95 is not None:
                metrics["p95_latency_ms"] = p95
            notifications = list(self.alerter.evaluate(metrics) or [])
        except Exception as exc:  # noqa: BLE001 - a collaborator's failure must not end the loop
            log.exception("monitoring tick failed: %s", exc)
            return TickReport(started, metrics, [], f"{type(exc).__name__}: {exc}")
        return TickReport(started, metrics, notifications, None)

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        iterations = notifications = errors = 0
        last_metrics: dict[str, float] = {}
        while True:
            if self.stop_event is not None and self.stop_event.is_set():
                return RunSummary(iterations, notifications, errors, STOPPED_BY_STOP_EVENT, dict(last_metrics))
            report = self.tick()
            iterations += 1
            if report.error is not None:
                errors += 1
            else:
                notifications += len(report.notifications)
                last_metrics = dict(report.metrics)
            if self.max_iterations is not None and iterations >= self.max_iterations:
                return RunSummary(iterations, notifications, errors, STOPPED_BY_MAX_ITERATIONS, dict(last_metrics))
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self.interval_s - elapsed))
