"""Latency and availability of a model server, kept in SQLite and summarised as an SLA."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
import urllib.parse
from typing import Callable

PROBE_TIMEOUT_S = 5.0


def _linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * (q / 100.0)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    a, b = ordered[low], ordered[high]
    # numpy's lerp: a + (b - a) * t, switching to b - (b - a) * (1 - t) for t >= 0.5
    diff = b - a
    if fraction >= 0.5:
        return float(b - diff * (1 - fraction))
    return float(a + diff * fraction)


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS samples ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, metric TEXT NOT NULL, stamp REAL NOT NULL,"
            " reading REAL NOT NULL, version TEXT)"
        )

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._db.execute(
            "INSERT INTO samples (metric, stamp, reading, version) VALUES (:m, :t, :v, :ver)",
            {"m": name, "t": self.clock(), "v": float(value), "ver": model_version},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        now = self.clock()
        cursor = self._db.execute(
            "SELECT stamp, reading FROM samples WHERE metric = :m AND :now - stamp <= :span ORDER BY stamp DESC",
            {"m": name, "now": now, "span": float(hours) * 3600},
        )
        out = []
        for stamp, reading in cursor:
            out.append({"timestamp": float(stamp), "value": float(reading)})
        return out

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours)
        if len(rows) == 0:
            return None
        within = len([r for r in rows if r["value"] <= latency_threshold_ms])
        return within * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours)
        if not rows:
            return None
        return _linear_percentile([r["value"] for r in rows], q)

    def _post_once(self, endpoint: str, body: bytes) -> int:
        parts = urllib.parse.urlsplit(endpoint)
        path = parts.path.rstrip("/") + "/predict"
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=PROBE_TIMEOUT_S)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        body = json.dumps(payload).encode("utf-8")
        began = time.monotonic()
        try:
            status = self._post_once(endpoint, body)
        except (OSError, http.client.HTTPException):
            status = None
        took_ms = (time.monotonic() - began) * 1000.0
        if status == 200:
            self.record_metric("latency_ms", took_ms)
            self.record_metric("availability", 1.0)
            return took_ms
        self.record_metric("availability", 0.0)
        return None
