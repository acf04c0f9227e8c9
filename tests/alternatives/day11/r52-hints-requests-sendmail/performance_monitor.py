"""Latency and availability of a model server, kept in SQLite and summarised as an SLA."""

from __future__ import annotations

import math
import sqlite3
import time
from contextlib import closing
from typing import Callable

import numpy
import requests

DEFAULT_PAYLOAD = {"features": [[0.0, 0.0, 0.0, 0.0]]}
PROBE_TIMEOUT_S = 5.0


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS metrics (ts REAL, name TEXT, value REAL, model_version TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30.0)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        value = float(value)
        if math.isnan(value):
            raise ValueError(f"{name}: NaN is not a measurement")
        ts = float(self.clock())
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT INTO metrics (ts, name, value, model_version) VALUES (?, ?, ?, ?)",
                         (ts, name, value, model_version))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        hours = float(hours)
        if math.isnan(hours):
            return []
        since = float(self.clock()) - hours * 3600
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT ts, value FROM metrics WHERE name = ? AND ts >= ? ORDER BY ts DESC",
                (name, since),
            ).fetchall()
        return [{"timestamp": float(ts), "value": float(v)} for ts, v in rows]

    def _latencies(self, hours: float) -> list[float]:
        return [row["value"] for row in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        limit = float(latency_threshold_ms)
        return 100.0 * sum(1 for v in values if v <= limit) / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        return float(numpy.percentile(values, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        body = DEFAULT_PAYLOAD if payload is None else payload
        start = time.perf_counter()
        try:
            response = requests.post(f"{endpoint}/predict", json=body, timeout=PROBE_TIMEOUT_S,
                                     allow_redirects=False)
        except requests.RequestException:
            self.record_metric("availability", 0.0)
            return None
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if response.status_code != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
