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
        if not interval_s > 0:  # False for NaN too
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if max_iterations is not None and not max_iterations >= 1:
            raise ValueError(f"max_iterations must be >= 1, got {max_iterations!r}")
        if (max_iterations, stop_event) == (None, None):
            raise ValueError("refusing a loop with no way to stop: give max_iterations or stop_event")
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval_s = interval_s
        self._max_iterations = max_iterations
        self._stop_event = stop_event
        self._sla_threshold_ms = sla_threshold_ms
        self._window_hours = window_hours

    def _read_metrics(self) -> dict[str, float]:
        latency = self._probe()
        raw = {
            "up": 1.0 if latency is not None else 0.0,
            "latency_ms": latency,
            "sla_compliance": self._store.calculate_sla_compliance(self._sla_threshold_ms, self._window_hours),
            "p95_latency_ms": self._store.latency_percentile(95, self._window_hours),
        }
        return {key: value for key, value in raw.items() if value is not None}

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator."""
        started_at = self.clock()
        try:
            metrics = self._read_metrics()
            sent = self._alerter.evaluate(metrics)
        except Exception as exc:  # KeyboardInterrupt and SystemExit are no Exception: they go through
            log.warning("tick at %s failed: %s: %s", started_at, type(exc).__name__, exc, exc_info=exc)
            return TickReport(started_at=started_at, metrics={}, error=f"{type(exc).__name__}: {exc}")
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent))

    def _stop_requested(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()

    def _ticks(self):
        """Yield one report per tick, pausing between them, until the event is set or the count is reached."""
        done = 0
        while not self._stop_requested():
            report = self.tick()
            done += 1
            yield report
            if self._max_iterations is not None and done == self._max_iterations:
                return
            elapsed = self.clock() - report.started_at
            self.sleep(max(0.0, self._interval_s - elapsed))

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally = {"iterations": 0, "notifications": 0, "errors": 0}
        last_metrics: dict[str, float] = {}
        for report in self._ticks():  # folded as they come: a long run keeps no history
            tally["iterations"] += 1
            tally["notifications"] += len(report.notifications)
            if report.error is None:
                last_metrics = report.metrics
            else:
                tally["errors"] += 1
        reached = self._max_iterations is not None and tally["iterations"] == self._max_iterations
        return RunSummary(**tally, stopped_by=STOPPED_BY_MAX_ITERATIONS if reached else STOPPED_BY_STOP_EVENT,
                          last_metrics=dict(last_metrics))
