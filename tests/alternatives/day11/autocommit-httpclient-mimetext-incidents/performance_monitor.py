"""Latency and availability of a model server, kept in SQLite and summarised as an SLA."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
import urllib.parse
from typing import Callable

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    metric TEXT NOT NULL,
    version TEXT,
    stamp REAL NOT NULL,
    reading REAL NOT NULL
)
"""


def _linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * (q / 100.0)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


class ModelPerformanceMonitor:
    PROBE_TIMEOUT = 5.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        # One long-lived connection in autocommit mode: every INSERT is visible at once.
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute(SCHEMA)
        self._db.execute("CREATE INDEX IF NOT EXISTS samples_by_metric ON samples (metric, stamp)")

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._db.execute(
            "INSERT INTO samples (metric, version, stamp, reading) VALUES (:metric, :version, :stamp, :reading)",
            {"metric": name, "version": model_version, "stamp": self.clock(), "reading": float(value)},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cursor = self._db.execute(
            "SELECT stamp, reading FROM samples WHERE metric = :metric AND stamp >= :since "
            "ORDER BY stamp DESC, id DESC",
            {"metric": name, "since": self.clock() - float(hours) * 3600},
        )
        return [{"timestamp": float(row["stamp"]), "value": float(row["reading"])} for row in cursor]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        latencies = [row["value"] for row in self.get_recent_metrics("latency_ms", hours=hours)]
        if len(latencies) == 0:
            return None
        within = len([v for v in latencies if v <= latency_threshold_ms])
        return within * 100.0 / len(latencies)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        latencies = [row["value"] for row in self.get_recent_metrics("latency_ms", hours=hours)]
        if len(latencies) == 0:
            return None
        return float(_linear_percentile(latencies, q))

    def _post(self, endpoint: str, document) -> int:
        url = urllib.parse.urlsplit(endpoint)
        conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(url.hostname, url.port, timeout=self.PROBE_TIMEOUT)
        try:
            path = url.path.rstrip("/") + "/predict"
            conn.request("POST", path, body=json.dumps(document).encode(),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        document = payload if payload is not None else {"features": [[0.0] * 4]}
        started = time.monotonic()
        try:
            status = self._post(endpoint, document)
        except (OSError, http.client.HTTPException):
            status = None
        elapsed_ms = (time.monotonic() - started) * 1000.0
        if status == 200:
            self.record_metric("latency_ms", elapsed_ms)
            self.record_metric("availability", 1.0)
            return elapsed_ms
        self.record_metric("availability", 0.0)
        return None
