"""A monitoring loop that can be stopped, tested and trusted to keep running.

The loop every MLOps team writes first is `while True: probe(); time.sleep(60)`: it
never ends, cannot be tested without waiting, dies on the first exception, and crashes
or lies when the service is down (a missing latency is not a latency of 0). This one
takes its collaborators by injection: a probe, a metric store, an alerter, a clock and
a sleep function, and it always has a way to stop.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
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
            raise ValueError("interval_s must be > 0")
        if max_iterations is None:
            if stop_event is None:
                raise ValueError("give max_iterations, stop_event or both: this loop could never stop")
        elif max_iterations < 1:
            raise ValueError("max_iterations must be >= 1")
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval = float(interval_s)
        self._limit = max_iterations
        self._stop = stop_event
        self._sla = (sla_threshold_ms, window_hours)

    def tick(self) -> TickReport:
        """Probe once, read the window metrics, let the alerter decide; never raises for a collaborator.

        metrics: "up" (1.0 when the probe returned a latency, else 0.0), "latency_ms",
        "sla_compliance" and "p95_latency_ms" (left out when None, never sent as 0).
        """
        started_at = self.clock()
        try:
            metrics = dict(self._readings())
            sent = self._alerter.evaluate(metrics)
        except Exception as error:  # noqa: BLE001 - a collaborator's bug must not end the loop
            text = f"{error.__class__.__name__}: {error}"
            log.warning("tick failed: %s", text, exc_info=error)
            return TickReport(started_at=started_at, metrics={}, error=text)
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _readings(self):
        """(name, value) pairs of this tick, each read once, None values skipped."""
        threshold, hours = self._sla
        latency = self._probe()
        yield "up", float(latency is not None)
        if latency is not None:
            yield "latency_ms", latency
        for name, read in (("sla_compliance", lambda: self._store.calculate_sla_compliance(threshold, hours)),
                           ("p95_latency_ms", lambda: self._store.latency_percentile(95.0, hours))):
            value = read()
            if value is not None:
                yield name, value

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        """Tick every `interval_s` until `max_iterations` ticks ran or `stop_event` is set."""
        tally: Counter[str] = Counter()
        last: TickReport | None = None
        metrics: dict[str, float] = {}
        counter = itertools.count(1) if self._limit is None else range(1, self._limit + 1)
        stopped_by = STOPPED_BY_MAX_ITERATIONS
        for number in counter:
            if self._stopped():
                stopped_by = STOPPED_BY_STOP_EVENT
                break
            last = self.tick()
            tally.update(iterations=1, notifications=len(last.notifications), errors=int(last.error is not None))
            if last.error is None:
                metrics = last.metrics
            if number == self._limit:
                break
            elapsed = self.clock() - last.started_at
            self.sleep(max(0.0, self._interval - elapsed))
        return RunSummary(
            iterations=tally["iterations"],
            notifications=tally["notifications"],
            errors=tally["errors"],
            stopped_by=stopped_by,
            last_metrics=dict(metrics),
        )
