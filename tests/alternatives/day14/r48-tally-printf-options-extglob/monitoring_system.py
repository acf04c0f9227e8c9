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


@dataclass
class _Tally:
    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_metrics: dict = field(default_factory=dict)

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, dict(self.last_metrics))


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
        if not interval_s > 0:  # NaN compares False too
            raise ValueError("interval_s must be > 0")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError("max_iterations must be >= 1")
        if stop_event is None and max_iterations is None:
            raise ValueError("give max_iterations or stop_event")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s = interval_s
        self.max_iterations = max_iterations
        self.stop_event = stop_event
        self.sla_threshold_ms = sla_threshold_ms
        self.window_hours = window_hours

    def _collect(self) -> dict[str, float]:
        latency = self.probe()
        readings = [
            ("up", 1.0 if latency is not None else 0.0),
            ("latency_ms", latency),
            ("sla_compliance", self.store.calculate_sla_compliance(self.sla_threshold_ms, self.window_hours)),
            ("p95_latency_ms", self.store.latency_percentile(95.0, self.window_hours)),
        ]
        metrics: dict[str, float] = {}
        for name, value in readings:
            if value is not None:
                metrics[name] = value
        return metrics

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator."""
        started_at = self.clock()
        try:
            metrics = self._collect()
            sent = self.alerter.evaluate(metrics)
        except Exception as exc:  # noqa: BLE001 - a failing tick must not end the loop
            log.error("tick failed: %s", exc, exc_info=exc)
            return TickReport(started_at, {}, [], f"{exc.__class__.__name__}: {exc}")
        return TickReport(started_at, dict(metrics), list(sent or []), None)

    def _should_stop(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = _Tally()
        while not self._should_stop():
            report = self.tick()
            tally.iterations += 1
            tally.notifications += len(report.notifications)
            if report.error is None:
                tally.last_metrics = report.metrics
            else:
                tally.errors += 1
            if self.max_iterations is not None and tally.iterations == self.max_iterations:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self.clock() - report.started_at
            pause = self.interval_s - elapsed
            self.sleep(pause if pause > 0 else 0)
        return tally.summary(STOPPED_BY_STOP_EVENT)
