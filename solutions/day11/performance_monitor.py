"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

A probe that measures with the wall clock, stores text timestamps or formats SQL
from strings gives numbers nobody can trust; this monitor measures durations with a
monotonic timer, stamps samples with an injectable clock (so tests and backfills
control time) and passes every value to SQLite as a parameter.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from typing import Callable

import numpy as np
import requests

LATENCY = "latency_ms"
AVAILABILITY = "availability"
DEFAULT_PAYLOAD = {"features": [[0.0, 0.0, 0.0, 0.0]]}
# A probe that waits longer than this counts the server as down: an SLA of a few
# hundred milliseconds is already broken, and a monitor must never hang.
PROBE_TIMEOUT_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    model_version TEXT NOT NULL
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS metrics_name_ts ON metrics (name, ts)"


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        with closing(self._connect()) as conn, conn:
            conn.execute(_SCHEMA)
            conn.execute(_INDEX)

    def _connect(self) -> sqlite3.Connection:
        # One short connection per call: several monitors (processes) may share the file.
        return sqlite3.connect(self.db_path, timeout=10)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO metrics (ts, name, value, model_version) VALUES (?, ?, ?, ?)",
                (float(self.clock()), name, float(value), model_version),
            )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        """Samples of `name` at most `hours` old, newest first."""
        since = float(self.clock()) - float(hours) * 3600  # NumPy numbers too: a float32 bound loses seconds
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT ts, value FROM metrics WHERE name = ? AND ts >= ? ORDER BY ts DESC, id DESC",
                (name, since),
            ).fetchall()
        return [{"timestamp": ts, "value": value} for ts, value in rows]

    def _latencies(self, hours: float) -> list[float]:
        return [row["value"] for row in self.get_recent_metrics(LATENCY, hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        """Percent of latency samples within the threshold; None when there is nothing to judge."""
        latencies = self._latencies(hours)
        if not latencies:
            return None
        within = sum(1 for value in latencies if value <= latency_threshold_ms)
        return 100.0 * within / len(latencies)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        latencies = self._latencies(hours)
        if not latencies:
            return None
        return float(np.percentile(latencies, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        """One timed POST to the model; records latency and availability, never raises for a down server."""
        body = DEFAULT_PAYLOAD if payload is None else payload
        started = time.perf_counter()
        try:
            response = requests.post(
                f"{endpoint.rstrip('/')}/predict", json=body, timeout=PROBE_TIMEOUT_S,
                allow_redirects=False,  # a 302 to a login page answering 200 is not a healthy model
            )
        except requests.RequestException:
            self.record_metric(AVAILABILITY, 0.0)
            return None
        latency_ms = (time.perf_counter() - started) * 1000.0
        if response.status_code != 200:
            self.record_metric(AVAILABILITY, 0.0)
            return None
        self.record_metric(LATENCY, latency_ms)
        self.record_metric(AVAILABILITY, 1.0)
        return latency_ms
