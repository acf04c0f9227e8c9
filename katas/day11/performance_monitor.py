"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

Monitoring numbers are only worth alerting on if they are right: durations measured
with a monotonic timer (not the wall clock), samples stamped by an injectable clock
(so tests and backfills control time), and every value handed to SQLite as a
parameter, never formatted into the SQL text.
"""

from __future__ import annotations

import time
from typing import Callable


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        """Use (and create if needed) the SQLite file at `db_path`; `clock()` gives epoch seconds.

        Several monitors on the same file must see each other's samples, and opening a
        monitor must never wipe what is already stored.
        """
        self.db_path = db_path
        self.clock = clock
        # TODO(task 1): create the table (if it does not exist yet) for
        #   timestamp, metric name, value and model version.

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        """Store one sample of `name`, stamped with `self.clock()`."""
        # TODO(task 1): INSERT with ? placeholders; names may contain quotes.
        raise NotImplementedError("task 1")

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        """Samples of `name` at most `hours` old (by `self.clock()`), newest first.

        Each is `{"timestamp": <epoch seconds as the clock gave them>, "value": float}`;
        a sample exactly `hours` old is in the window.
        """
        # TODO(task 1): SELECT with ? placeholders, ORDER BY timestamp DESC.
        raise NotImplementedError("task 1")

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        """Percent (0-100) of `latency_ms` samples in the window that are <= the threshold.

        None when the window holds no `latency_ms` sample: no data is not 0 % nor 100 %.
        """
        # TODO(task 2): count over get_recent_metrics("latency_ms", hours).
        raise NotImplementedError("task 2")

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        """The q-th percentile (q in [0, 100]) of `latency_ms` in the window, interpolated
        linearly as `numpy.percentile` does; None when there are no samples."""
        # TODO(task 2): numpy.percentile over the window's latency values.
        raise NotImplementedError("task 2")

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        """POST `payload` (default: one row of 4 zeros) as JSON to `{endpoint}/predict`.

        A 200 records `latency_ms` (the request's duration in milliseconds) and
        `availability` 1.0 and returns the latency. Any other status, a timeout, a
        refused connection or a broken answer (not HTTP, or cut short) records only
        `availability` 0.0 and returns None; the probe
        never raises for a broken server and gives up after a timeout of at most 30 s.
        """
        # TODO(task 3): time.perf_counter() around requests.post(..., timeout=...).
        raise NotImplementedError("task 3")
