"""Latency and availability of a model server, kept in SQLite (http.client probe, hand-rolled percentiles)."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 5.0


@dataclass
class Sample:
    timestamp: float
    value: float

    def as_dict(self) -> dict:
        return {"timestamp": self.timestamp, "value": self.value}


def interpolated_percentile(values: list[float], q: float) -> float:
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
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS samples (metric TEXT NOT NULL, at REAL NOT NULL, "
            "reading REAL NOT NULL, version TEXT)"
        )

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._conn.execute(
            "INSERT INTO samples (metric, at, reading, version) VALUES (:m, :t, :v, :ver)",
            {"m": name, "t": self.clock(), "v": float(value), "ver": model_version},
        )

    def _window(self, name: str, hours: float) -> list[Sample]:
        cur = self._conn.execute(
            "SELECT at, reading FROM samples WHERE metric = :m AND at >= :now - :h * 3600.0 ORDER BY at DESC",
            {"m": name, "now": self.clock(), "h": float(hours)},
        )
        return [Sample(float(at), float(reading)) for at, reading in cur]

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        return [s.as_dict() for s in self._window(name, hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        window = self._window("latency_ms", hours)
        if len(window) == 0:
            return None
        good = len([s for s in window if s.value <= latency_threshold_ms])
        return good * 100.0 / len(window)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        window = self._window("latency_ms", hours)
        if not window:
            return None
        return interpolated_percentile([s.value for s in window], q)

    def _post(self, endpoint: str, payload: dict) -> int:
        parts = urlsplit(endpoint)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=PROBE_TIMEOUT_S)
        try:
            data = json.dumps(payload).encode()
            conn.request("POST", parts.path.rstrip("/") + "/predict", body=data,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        started = time.monotonic()
        try:
            status = self._post(endpoint, payload)
        except (OSError, http.client.HTTPException):
            status = None
        elapsed_ms = (time.monotonic() - started) * 1000.0
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
