"""A monitoring loop that can be stopped, tested and trusted to keep running.

The loop every MLOps team writes first is `while True: probe(); time.sleep(60)`: it
never ends, cannot be tested without waiting, dies on the first exception, and crashes
or lies when the service is down (a missing latency is not a latency of 0). This one
takes its collaborators by injection: a probe, a metric store, an alerter, a clock and
a sleep function, and it always has a way to stop.
"""

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
    """What one run() has seen so far; a fresh one per run."""

    iterations: int = 0
    notifications: int = 0
    errors: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)

    def add(self, report: TickReport) -> None:
        self.iterations += 1
        self.notifications += len(report.notifications)
        self.errors += 0 if report.error is None else 1
        if report.error is None:
            self.last_metrics = dict(report.metrics)

    def summary(self, stopped_by: str) -> RunSummary:
        return RunSummary(self.iterations, self.notifications, self.errors, stopped_by, self.last_metrics)


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"


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
        problems = []
        if math.isnan(interval_s) or interval_s <= 0:
            problems.append(f"interval_s={interval_s!r} must be > 0")
        if max_iterations is not None and max_iterations < 1:
            problems.append(f"max_iterations={max_iterations!r} must be >= 1")
        if max_iterations is None and stop_event is None:
            problems.append("give max_iterations or stop_event: this loop could never stop")
        if problems:
            raise ValueError("; ".join(problems))
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _read_metrics(self) -> dict[str, float]:
        latency = self.probe()
        readings = {
            "up": 1.0 if latency is not None else 0.0,
            "latency_ms": latency,
            "sla_compliance": self.store.calculate_sla_compliance(
                latency_threshold_ms=self.sla_threshold_ms, hours=self.window_hours),
            "p95_latency_ms": self.store.latency_percentile(95, hours=self.window_hours),
        }
        return {name: value for name, value in readings.items() if value is not None}

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator.

        metrics: "up" (1.0 when the probe returned a latency, else 0.0), "latency_ms",
        "sla_compliance" and "p95_latency_ms" (left out when None, never sent as 0).
        """
        started_at = self.clock()
        try:
            metrics = self._read_metrics()
            sent = self.alerter.evaluate(metrics)
        except Exception as exc:  # KeyboardInterrupt and SystemExit are not Exceptions: they end the run
            log.exception("tick at %s failed", started_at)
            return TickReport(started_at=started_at, metrics={}, error=_describe(exc))
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _done(self, tally: _Tally) -> bool:
        return self.max_iterations is not None and tally.iterations >= self.max_iterations

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = _Tally()
        while not self._stop_requested():
            report = self.tick()
            tally.add(report)
            if self._done(tally):
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            next_due = report.started_at + self.interval_s
            self.sleep(max(0.0, next_due - self.clock()))
        return tally.summary(STOPPED_BY_STOP_EVENT)
