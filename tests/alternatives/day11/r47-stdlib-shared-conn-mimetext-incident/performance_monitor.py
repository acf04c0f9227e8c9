"""Latency and availability of a model server: one shared SQLite connection behind a lock,
SQL aggregates, a hand-written linear percentile, and an http.client probe."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """CREATE TABLE IF NOT EXISTS perf_samples (
    metric TEXT NOT NULL,
    stamped_at REAL NOT NULL,
    reading REAL NOT NULL,
    model_version TEXT NOT NULL
)"""


def _linear_percentile(sorted_values: list[float], q: float) -> float:
    """numpy's default 'linear' method (Hyndman & Fan type 7)."""
    n = len(sorted_values)
    pos = (float(q) / 100.0) * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    a, b = sorted_values[lo], sorted_values[hi]
    diff = b - a
    if frac >= 0.5:
        return b - diff * (1 - frac)
    return a + diff * frac


class ModelPerformanceMonitor:
    PROBE_TIMEOUT_S = 3.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
        with self._lock:
            self._conn.execute(_SCHEMA)

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._query(
            "INSERT INTO perf_samples (metric, stamped_at, reading, model_version) VALUES (?, ?, ?, ?)",
            (name, float(self.clock()), float(value), model_version),
        )

    def _window_start(self, hours: float) -> float:
        return float(self.clock()) - float(hours) * 3600.0

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        rows = self._query(
            "SELECT stamped_at, reading FROM perf_samples WHERE metric = ? AND stamped_at >= ? "
            "ORDER BY stamped_at DESC",
            (name, self._window_start(hours)),
        )
        return [dict(timestamp=float(ts), value=float(v)) for ts, v in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        ((total, within),) = self._query(
            "SELECT COUNT(*), SUM(CASE WHEN reading <= ? THEN 1 ELSE 0 END) FROM perf_samples "
            "WHERE metric = ? AND stamped_at >= ?",
            (float(latency_threshold_ms), "latency_ms", self._window_start(hours)),
        )
        if not total:
            return None
        return within * 100.0 / total

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        rows = self._query(
            "SELECT reading FROM perf_samples WHERE metric = ? AND stamped_at >= ? ORDER BY reading",
            ("latency_ms", self._window_start(hours)),
        )
        if not rows:
            return None
        return float(_linear_percentile([r[0] for r in rows], q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0, 0.0, 0.0, 0.0]]}
        url = urlsplit(endpoint)
        path = url.path.rstrip("/") + "/predict"
        data = json.dumps(payload).encode("utf-8")
        conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(url.hostname, url.port, timeout=self.PROBE_TIMEOUT_S)
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            t1 = time.perf_counter()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            conn.close()
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        latency = (t1 - t0) * 1000.0
        self.record_metric("latency_ms", latency)
        self.record_metric("availability", 1.0)
        return latency
