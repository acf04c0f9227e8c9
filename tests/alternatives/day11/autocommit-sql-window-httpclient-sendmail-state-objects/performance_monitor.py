"""Latency and availability of a model server, kept in SQLite (one long-lived connection, http.client probe)."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    metric TEXT NOT NULL,
    version TEXT,
    recorded_at REAL NOT NULL,
    reading REAL NOT NULL
)
"""


def _interpolated_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


class ModelPerformanceMonitor:
    PROBE_TIMEOUT_S = 5.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)  # autocommit
        self._db.execute(_SCHEMA)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._db.execute(
            "INSERT INTO samples (metric, version, recorded_at, reading) VALUES (:metric, :version, :at, :reading)",
            {"metric": name, "version": model_version, "at": self.clock(), "reading": float(value)},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cursor = self._db.execute(
            "SELECT recorded_at, reading FROM samples WHERE metric = :metric AND recorded_at >= :now - :span "
            "ORDER BY recorded_at DESC",
            {"metric": name, "now": self.clock(), "span": float(hours) * 3600},
        )
        return [{"timestamp": float(at), "value": float(reading)} for at, reading in cursor]

    def _window(self, hours: float) -> list[float]:
        return [sample["value"] for sample in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        window = self._window(hours)
        if len(window) == 0:
            return None
        within = len([v for v in window if v <= latency_threshold_ms])
        return within * 100.0 / len(window)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        window = self._window(hours)
        return _interpolated_percentile(window, q) if window else None

    def _post(self, endpoint: str, body: bytes) -> int:
        parts = urlsplit(endpoint)
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(parts.hostname, parts.port, timeout=self.PROBE_TIMEOUT_S)
        try:
            conn.request("POST", parts.path.rstrip("/") + "/predict", body=body,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        body = json.dumps(payload).encode()
        t0 = time.monotonic()
        try:
            status = self._post(endpoint, body)
        except (OSError, http.client.HTTPException):
            status = None
        took_ms = (time.monotonic() - t0) * 1e3
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", took_ms)
        self.record_metric("availability", 1.0)
        return took_ms
