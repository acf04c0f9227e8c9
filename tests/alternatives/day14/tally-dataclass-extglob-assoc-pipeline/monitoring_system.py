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

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications)
        self.errors += report.error is not None
        if report.error is None:
            self.last_metrics = dict(report.metrics)

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, self.last_metrics)


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
        if not interval_s > 0:  # NaN compares false too
            raise ValueError("interval_s must be > 0")
        if (max_iterations, stop_event) == (None, None):
            raise ValueError("give max_iterations or stop_event, or the loop never ends")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError("max_iterations must be >= 1")
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval = float(interval_s)
        self._limit = max_iterations
        self._stop = stop_event
        self._window = {
            "sla_compliance": lambda: store.calculate_sla_compliance(latency_threshold_ms=sla_threshold_ms,
                                                                     hours=window_hours),
            "p95_latency_ms": lambda: store.latency_percentile(95.0, hours=window_hours),
        }

    def _collect(self) -> dict[str, float]:
        latency = self._probe()
        readings = {"up": float(latency is not None), "latency_ms": latency}
        readings.update({name: read() for name, read in self._window.items()})
        return {name: value for name, value in readings.items() if value is not None}

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator.

        metrics: "up" (1.0 when the probe returned a latency, else 0.0), "latency_ms",
        "sla_compliance" and "p95_latency_ms" (left out when None, never sent as 0).
        """
        started = self.clock()
        try:
            metrics = self._collect()
            sent = self._alerter.evaluate(metrics)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("tick failed: %s", error, exc_info=True)
            return TickReport(started_at=started, metrics={}, error=error)
        return TickReport(started_at=started, metrics=metrics, notifications=list(sent or []))

    def _should_stop(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = _Tally()
        while not self._should_stop():
            report = self.tick()
            tally.add(report)
            if tally.iterations == self._limit:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self._interval - elapsed))
        return tally.summary(STOPPED_BY_STOP_EVENT)
