"""A monitoring loop written as a stream of tick reports consumed by a small tally."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
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
        problems = []
        if not interval_s > 0:
            problems.append(f"interval_s must be positive (got {interval_s!r})")
        if max_iterations is not None and not max_iterations >= 1:
            problems.append(f"max_iterations must be at least 1 (got {max_iterations!r})")
        if (max_iterations, stop_event) == (None, None):
            problems.append("give max_iterations or stop_event: this loop could never stop")
        if problems:
            raise ValueError("; ".join(problems))
        self.probe, self.store, self.alerter = probe, store, alerter
        self.clock, self.sleep = clock, sleep
        self.interval_s, self.max_iterations, self.stop_event = interval_s, max_iterations, stop_event
        self.sla_threshold_ms, self.window_hours = sla_threshold_ms, window_hours

    def _metrics(self) -> dict[str, float]:
        latency = self.probe()
        candidates = {
            "up": 1.0 if latency is not None else 0.0,
            "latency_ms": latency,
            "sla_compliance": self.store.calculate_sla_compliance(latency_threshold_ms=self.sla_threshold_ms,
                                                                  hours=self.window_hours),
            "p95_latency_ms": self.store.latency_percentile(q=95, hours=self.window_hours),
        }
        return {name: value for name, value in candidates.items() if value is not None}

    def tick(self) -> TickReport:
        started_at = self.clock()
        try:
            metrics = self._metrics()
            sent = self.alerter.evaluate(metrics)
        except Exception as error:  # noqa: BLE001 - a collaborator's bug must not end the loop
            text = f"{type(error).__name__}: {error}"
            log.error("tick failed: %s", text, exc_info=error)
            return TickReport(started_at=started_at, metrics={}, error=text)
        return TickReport(started_at=started_at, metrics=metrics, notifications=list(sent or []))

    def _stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _reports(self) -> Iterator[TickReport]:
        """One report per tick while no stop is requested; the pause runs when the caller asks for the next one."""
        while not self._stop_requested():
            report = self.tick()
            yield report
            self.sleep(max(0.0, self.interval_s - (self.clock() - report.started_at)))

    def run(self) -> RunSummary:
        tally = _Tally()
        reports = self._reports()
        try:
            for report in reports:
                tally.add(report)
                if self.max_iterations is not None and tally.iterations == self.max_iterations:
                    return tally.summary(STOPPED_BY_MAX_ITERATIONS)
            return tally.summary(STOPPED_BY_STOP_EVENT)
        finally:
            reports.close()
