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
        # TODO(task 1): validate (a loop with no way to stop is refused), then keep the arguments.
        raise NotImplementedError("task 1")

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator.

        metrics: "up" (1.0 when the probe returned a latency, else 0.0), "latency_ms",
        "sla_compliance" and "p95_latency_ms" (left out when None, never sent as 0).
        """
        # TODO(task 2): build the metrics, call alerter.evaluate once; an exception becomes TickReport.error.
        raise NotImplementedError("task 2")

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        # TODO(task 1): check the stop event before each tick; no pause after the last tick;
        #   pause max(0, interval_s - tick duration) with the injected sleep and clock.
        raise NotImplementedError("task 1")
