"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

Style: one shared autocommit connection guarded by a lock, SQL does the counting for
the SLA, and the probe speaks HTTP with the standard library's http.client.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

import numpy as np

DEFAULT_PAYLOAD = {"features": [[0.0, 0.0, 0.0, 0.0]]}
PROBE_TIMEOUT_S = 5.0


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS perf_samples ("
                " metric TEXT NOT NULL, stamp REAL NOT NULL, reading REAL NOT NULL, version TEXT)"
            )

    def _query(self, sql: str, params: dict) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        params = {"metric": name, "stamp": float(self.clock()), "reading": float(value), "version": model_version}
        with self._lock:
            self._conn.execute(
                "INSERT INTO perf_samples (metric, stamp, reading, version) VALUES (:metric, :stamp, :reading, :version)",
                params,
            )

    def _since(self, hours: float) -> float:
        return float(self.clock()) - float(hours) * 3600.0

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        rows = self._query(
            "SELECT stamp, reading FROM perf_samples WHERE metric = :metric AND stamp >= :since ORDER BY stamp DESC",
            {"metric": name, "since": self._since(hours)},
        )
        return [{"timestamp": float(stamp), "value": float(reading)} for stamp, reading in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        ((total, within),) = self._query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN reading <= :limit THEN 1 ELSE 0 END), 0) FROM perf_samples"
            " WHERE metric = :metric AND stamp >= :since",
            {"metric": "latency_ms", "since": self._since(hours), "limit": float(latency_threshold_ms)},
        )
        if not total:
            return None
        return 100.0 * within / total

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = [row["value"] for row in self.get_recent_metrics("latency_ms", hours)]
        if not values:
            return None
        return float(np.percentile(np.asarray(values, dtype=np.float64), q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        parts = urlsplit(f"{endpoint}/predict")
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = json.dumps(DEFAULT_PAYLOAD if payload is None else payload).encode()
        conn = connection_class(parts.hostname, parts.port, timeout=PROBE_TIMEOUT_S)
        try:
            started = time.perf_counter()
            conn.request("POST", target, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            status = response.status
        except (OSError, http.client.HTTPException):
            self.record_metric("availability", 0.0)
            return None
        finally:
            conn.close()
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
