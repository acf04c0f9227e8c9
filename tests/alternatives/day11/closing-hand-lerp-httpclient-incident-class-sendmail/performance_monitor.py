"""Monitor with short sqlite connections, a hand-written percentile and an http.client probe."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from contextlib import closing
from typing import Callable
from urllib.parse import urlsplit

DEFAULT_PAYLOAD = {"features": [[0.0, 0.0, 0.0, 0.0]]}
PROBE_TIMEOUT_S = 5.0


def _interpolated(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        with closing(sqlite3.connect(db_path)) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS samples (stamp REAL NOT NULL, metric TEXT NOT NULL, "
                "reading REAL NOT NULL, version TEXT)"
            )

    def _run(self, sql: str, params: tuple) -> list[tuple]:
        with closing(sqlite3.connect(self.db_path)) as conn, conn:
            return conn.execute(sql, params).fetchall()

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._run("INSERT INTO samples (stamp, metric, reading, version) VALUES (?, ?, ?, ?)",
                  (float(self.clock()), name, float(value), model_version))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        since = self.clock() - float(hours) * 3600
        rows = self._run("SELECT stamp, reading FROM samples WHERE metric = ? AND stamp >= ? ORDER BY stamp DESC",
                         (name, since))
        return [{"timestamp": float(stamp), "value": float(reading)} for stamp, reading in rows]

    def _latencies(self, hours: float) -> list[float]:
        return [row["value"] for row in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        within = sum(1 for v in values if v <= latency_threshold_ms)
        return 100.0 * within / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        return float(_interpolated(values, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        parts = urlsplit(endpoint)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        path = parts.path.rstrip("/") + "/predict"
        body = json.dumps(DEFAULT_PAYLOAD if payload is None else payload).encode()
        conn = connection_class(parts.hostname, parts.port, timeout=PROBE_TIMEOUT_S)
        try:
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            status = response.status
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            conn.close()
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
