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
        if not interval_s > 0:  # NaN compares False too
            raise ValueError("interval_s must be a positive number")
        if max_iterations is None:
            if stop_event is None:
                raise ValueError("give max_iterations or stop_event, or the loop never stops")
        elif max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s = interval_s
        self.max_iterations, self.stop_event = max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _collect(self) -> dict[str, float]:
        latency = self.probe()
        metrics: dict[str, float] = {"up": 1.0 if latency is not None else 0.0}
        if latency is not None:
            metrics["latency_ms"] = latency
        sla = self.store.calculate_sla_compliance(latency_threshold_ms=self.sla_threshold_ms, hours=self.window_hours)
        if sla is not None:
            metrics["sla_compliance"] = sla
        p95 = self.store.latency_percentile(95, hours=self.window_hours)
        if p95 is not None:
            metrics["p95_latency_ms"] = p95
        return metrics

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = self._collect()
            sent = self.alerter.evaluate(metrics)
        except Exception as exc:  # noqa: BLE001 - a tick never kills the loop
            error = f"{type(exc).__name__}: {exc}"
            log.warning("tick failed: %s", error, exc_info=True)
            return TickReport(started_at=started_at, metrics={}, error=error)
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or ()))

    def _stopped(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def run(self) -> RunSummary:
        reports: list[TickReport] = []

        def summary(stopped_by: str) -> RunSummary:
            good = [r for r in reports if r.error is None]
            return RunSummary(
                iterations=len(reports),
                notifications=sum(len(r.notifications) for r in reports),
                errors=len(reports) - len(good),
                stopped_by=stopped_by,
                last_metrics=dict(good[-1].metrics) if good else {},
            )

        while not self._stopped():
            report = self.tick()
            reports.append(report)
            if self.max_iterations is not None and len(reports) >= self.max_iterations:
                return summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self.interval_s - elapsed))
        return summary(STOPPED_BY_STOP_EVENT)
