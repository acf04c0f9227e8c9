"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

Style: a short connection per call (contextlib.closing), positional ? parameters,
summaries computed in Python over get_recent_metrics (hand-written linear
interpolation), and the probe through requests.
"""

from __future__ import annotations

import math
import sqlite3
import time
from contextlib import closing
from typing import Callable

import requests

SCHEMA = "CREATE TABLE IF NOT EXISTS metrics (ts REAL, name TEXT, value REAL, model_version TEXT)"


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        with closing(sqlite3.connect(db_path)) as conn, conn:
            conn.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        row = (self.clock(), name, float(value), model_version)
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT INTO metrics (ts, name, value, model_version) VALUES (?, ?, ?, ?)",
                         (float(row[0]), row[1], row[2], row[3]))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        since = self.clock() - float(hours) * 3600.0
        with closing(self._connect()) as conn:
            cursor = conn.execute("SELECT ts, value FROM metrics WHERE name = ? AND ts >= ? ORDER BY ts DESC",
                                  (name, float(since)))
            return [dict(timestamp=float(ts), value=float(v)) for ts, v in cursor]

    def _latencies(self, hours: float) -> list[float]:
        return [sample["value"] for sample in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if len(values) == 0:
            return None
        ok = len([v for v in values if v <= latency_threshold_ms])
        return ok * 100.0 / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = sorted(self._latencies(hours))
        if not values:
            return None
        rank = (len(values) - 1) * (q / 100.0)
        low = math.floor(rank)
        high = min(low + 1, len(values) - 1)
        fraction = rank - low
        return values[low] + (values[high] - values[low]) * fraction

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        body = {"features": [[0.0] * 4]} if payload is None else payload
        start = time.monotonic()
        try:
            response = requests.post(endpoint + "/predict", json=body, timeout=(3, 5), allow_redirects=False)
            response.content  # the whole body, inside the try: a cut-short body raises here
        except requests.RequestException:
            self.record_metric("availability", 0.0)
            return None
        took_ms = (time.monotonic() - start) * 1000
        if response.status_code == 200:
            self.record_metric("latency_ms", took_ms)
            self.record_metric("availability", 1.0)
            return took_ms
        self.record_metric("availability", 0.0)
        return None
