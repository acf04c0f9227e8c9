"""Alt B: one long-lived autocommit connection, numpy summaries, requests Session probe."""
from __future__ import annotations

import sqlite3
import time
from typing import Callable

import numpy as np
import requests

DEFAULT_PAYLOAD = {"features": [[0.0] * 4]}
PROBE_TIMEOUT_S = 5.0


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS perf_metric (
                metric_name TEXT, recorded_at REAL, metric_value REAL, model_version TEXT
            );
            CREATE INDEX IF NOT EXISTS perf_metric_by_name ON perf_metric (metric_name, recorded_at);
            """
        )

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._db.execute("INSERT INTO perf_metric VALUES (?, ?, ?, ?)", (name, self.clock(), float(value), model_version))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cutoff = self.clock() - float(hours) * 3600
        rows = self._db.execute(
            "SELECT recorded_at, metric_value FROM perf_metric WHERE metric_name = ? AND recorded_at >= ?",
            (name, cutoff),
        ).fetchall()
        rows.sort(key=lambda r: r[0], reverse=True)
        return [dict(timestamp=ts, value=v) for ts, v in rows]

    def _window(self, hours: float) -> np.ndarray:
        return np.array([r["value"] for r in self.get_recent_metrics("latency_ms", hours)], dtype=float)

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        lat = self._window(hours)
        if lat.size == 0:
            return None
        return float(np.mean(lat <= latency_threshold_ms) * 100)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        lat = self._window(hours)
        if lat.size == 0:
            return None
        return float(np.quantile(lat, q / 100))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        body = DEFAULT_PAYLOAD if payload is None else payload
        with requests.Session() as session:
            start = time.perf_counter()
            try:
                response = session.post(f"{endpoint}/predict", json=body, timeout=(2, PROBE_TIMEOUT_S),
                                        allow_redirects=False)
            except requests.RequestException:
                ok = False
            else:
                ok = response.status_code == 200
            took_ms = (time.perf_counter() - start) * 1e3
        if not ok:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", took_ms)
        self.record_metric("availability", 1.0)
        return took_ms
