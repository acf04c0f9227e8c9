"""Latency and availability of a model server, kept in SQLite and summarised as an SLA."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """CREATE TABLE IF NOT EXISTS samples (
    metric TEXT NOT NULL,
    at REAL NOT NULL,
    reading REAL NOT NULL,
    version TEXT
)"""


def _linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._conn.execute(_SCHEMA)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._conn.execute(
            "INSERT INTO samples (metric, at, reading, version) VALUES (:metric, :at, :reading, :version)",
            {"metric": name, "at": float(self.clock()), "reading": float(value), "version": model_version},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cursor = self._conn.execute(
            "SELECT at, reading FROM samples WHERE metric = :metric AND at >= :now - :span "
            "ORDER BY at DESC",
            {"metric": name, "now": self.clock(), "span": float(hours) * 3600},
        )
        return [{"timestamp": at, "value": reading} for at, reading in cursor]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = [r["value"] for r in self.get_recent_metrics("latency_ms", hours)]
        if len(values) == 0:
            return None
        good = len([v for v in values if v <= latency_threshold_ms])
        return good * 100.0 / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = [r["value"] for r in self.get_recent_metrics("latency_ms", hours)]
        if len(values) == 0:
            return None
        return float(_linear_percentile(values, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        parts = urlsplit(endpoint)
        path = parts.path.rstrip("/") + "/predict"
        data = json.dumps(payload).encode()
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=5)
        began = time.monotonic()
        ok = False
        try:
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            conn.close()
        elapsed_ms = (time.monotonic() - began) * 1000.0
        if not ok:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
