"""Monitor that keeps one autocommit sqlite connection, numpy for summaries and requests for the probe."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable

import numpy as np
import requests


class ModelPerformanceMonitor:
    SCHEMA = """CREATE TABLE IF NOT EXISTS metric_samples (
        recorded_at REAL NOT NULL,
        metric_name TEXT NOT NULL,
        metric_value REAL NOT NULL,
        model_version TEXT NOT NULL DEFAULT 'current'
    )"""
    INDEX = "CREATE INDEX IF NOT EXISTS metric_samples_by_name ON metric_samples (metric_name, recorded_at)"

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._conn.execute(self.SCHEMA)
        self._conn.execute(self.INDEX)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO metric_samples (recorded_at, metric_name, metric_value, model_version) "
                "VALUES (:at, :name, :value, :version)",
                {"at": self.clock(), "name": name, "value": float(value), "version": model_version},
            )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        params = {"name": name, "now": self.clock(), "seconds": float(hours) * 3600}
        with self._lock:
            cursor = self._conn.execute(
                "SELECT recorded_at, metric_value FROM metric_samples "
                "WHERE metric_name = :name AND recorded_at >= :now - :seconds "
                "ORDER BY recorded_at DESC",
                params,
            )
            rows = cursor.fetchall()
        return [dict(timestamp=float(at), value=float(v)) for at, v in rows]

    def _latency_array(self, hours: float) -> np.ndarray:
        return np.array([s["value"] for s in self.get_recent_metrics("latency_ms", hours=hours)], dtype=float)

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latency_array(hours)
        if values.size == 0:
            return None
        return float(np.mean(values <= latency_threshold_ms) * 100.0)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._latency_array(hours)
        if values.size == 0:
            return None
        return float(np.percentile(values, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        body = payload if payload is not None else {"features": [[0.0] * 4]}
        t0 = time.monotonic()
        try:
            response = requests.post(endpoint + "/predict", json=body, timeout=(3.0, 5.0), allow_redirects=False)
        except requests.RequestException:
            ok = False
        else:
            ok = response.status_code == 200
        latency_ms = (time.monotonic() - t0) * 1e3
        if not ok:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", latency_ms)
        self.record_metric("availability", 1.0)
        return latency_ms
