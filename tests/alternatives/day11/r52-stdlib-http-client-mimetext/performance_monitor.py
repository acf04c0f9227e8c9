"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

Standard-library flavour: http.client for the probe, a hand-written linear
interpolation for percentiles, and the window start computed inside SQL.
"""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import ssl
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS perf_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    metric TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    value REAL,
    model_version TEXT
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS perf_samples_metric_ts ON perf_samples (metric, recorded_at)"


def _interpolated_percentile(values: list[float], q: float) -> float:
    """numpy.percentile's default 'linear' method, written out."""
    ordered = sorted(values)
    n = len(ordered)
    position = (q / 100) * (n - 1)
    below = math.floor(position)
    below = min(max(below, 0), n - 1)
    above = min(below + 1, n - 1)
    gamma = position - below
    lo, hi = ordered[below], ordered[above]
    diff = hi - lo
    if gamma >= 0.5:
        return float(hi - diff * (1 - gamma))
    return float(lo + diff * gamma)


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        conn = sqlite3.connect(db_path, timeout=30.0, check_same_thread=False)
        conn.isolation_level = None  # autocommit: every statement is visible at once
        self._conn = conn
        with self._lock:
            conn.execute(_SCHEMA)
            conn.execute(_INDEX)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        number = float(value)
        if number != number:
            raise ValueError("NaN is not a measurement")
        stamp = float(self.clock())
        with self._lock:
            self._conn.execute(
                "INSERT INTO perf_samples (metric, recorded_at, value, model_version) VALUES (?, ?, ?, ?)",
                (name, stamp, number, model_version),
            )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        window_s = float(hours) * 3600
        if math.isnan(window_s):
            return []
        now = float(self.clock())
        since = now - window_s
        with self._lock:
            cursor = self._conn.execute(
                "SELECT recorded_at, value FROM perf_samples "
                "WHERE metric = ? AND recorded_at >= ? ORDER BY recorded_at DESC",
                (name, since),
            )
            rows = cursor.fetchall()
        return [dict(timestamp=float(stamp), value=float(v)) for stamp, v in rows]

    def _latency_values(self, hours: float) -> list[float]:
        return [sample["value"] for sample in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latency_values(hours)
        if len(values) == 0:
            return None
        threshold = float(latency_threshold_ms)
        within = len([v for v in values if v <= threshold])
        return within * 100.0 / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._latency_values(hours)
        if not values:
            return None
        return _interpolated_percentile(values, float(q))

    def _post(self, endpoint: str, payload: dict) -> int:
        parts = urlsplit(endpoint)
        path = (parts.path or "") + "/predict"
        if parts.query:
            path += "?" + parts.query
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=5.0,
                                               context=ssl.create_default_context())
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5.0)
        else:
            raise ValueError(f"unsupported scheme in {endpoint!r}")
        try:
            data = json.dumps(payload).encode("utf-8")
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        started = time.perf_counter()
        try:
            status = self._post(endpoint, payload)
        except (OSError, http.client.HTTPException, ValueError):
            status = None
        took_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", took_ms)
        self.record_metric("availability", 1.0)
        return took_ms
