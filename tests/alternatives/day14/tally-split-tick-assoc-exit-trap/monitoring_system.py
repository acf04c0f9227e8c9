"""A monitoring loop that can be stopped, tested and trusted to keep running.

Written as a small state machine: the run keeps its own tally object, the tick is split
into reading the metrics and asking the alerter.
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
        if not interval_s > 0:  # NaN compares false too
            raise ValueError(f"interval_s must be > 0, not {interval_s!r}")
        if max_iterations is None:
            if stop_event is None:
                raise ValueError("give max_iterations or stop_event: this loop could never stop")
        elif max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, not {max_iterations!r}")
        self._probe, self._store, self._alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self._interval = interval_s
        self._max = max_iterations
        self._stop = stop_event
        self._threshold = sla_threshold_ms
        self._hours = window_hours

    def _read_metrics(self) -> dict[str, float]:
        latency = self._probe()
        pairs = [("up", 1.0 if latency is not None else 0.0), ("latency_ms", latency)]
        pairs.append(("sla_compliance", self._store.calculate_sla_compliance(
            latency_threshold_ms=self._threshold, hours=self._hours)))
        pairs.append(("p95_latency_ms", self._store.latency_percentile(95, hours=self._hours)))
        return {name: value for name, value in pairs if value is not None}

    def tick(self) -> TickReport:
        started_at = self.clock()
        metrics: dict[str, float] = {}
        try:
            metrics = self._read_metrics()
            sent = self._alerter.evaluate(metrics)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            log.warning("tick failed: %s", message, exc_info=exc)
            return TickReport(started_at=started_at, metrics=metrics, error=message)
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self) -> RunSummary:
        tally = _Tally()
        while not self._stopped():
            report = self.tick()
            tally.add(report)
            if self._max is not None and tally.iterations == self._max:
                return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            spent = self.clock() - report.started_at
            pause = self._interval - spent
            self.sleep(pause if pause > 0 else 0)
        return tally.summary(STOPPED_BY_STOP_EVENT)
