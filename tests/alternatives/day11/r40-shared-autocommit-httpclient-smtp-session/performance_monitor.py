"""Correct answer B: one long-lived autocommit connection guarded by a lock, window subtraction in SQL,
http.client for the probe, hand-written linear percentile."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = "CREATE TABLE IF NOT EXISTS samples (name TEXT, stamp REAL, val REAL, version TEXT)"
_PROBE_TIMEOUT_S = 3.0


def _linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * (q / 100.0)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    frac = pos - lo
    return ordered[lo] + (ordered[hi] - ordered[lo]) * frac


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute(_SCHEMA)

    def __del__(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._query("INSERT INTO samples (name, stamp, val, version) VALUES (?, ?, ?, ?)",
                    (name, float(self.clock()), float(value), model_version))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        rows = self._query(
            "SELECT stamp, val FROM samples WHERE name = ? AND stamp >= (? - ? * 3600.0) ORDER BY stamp DESC",
            (name, float(self.clock()), float(hours)),
        )
        return [{"timestamp": stamp, "value": val} for stamp, val in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = [r["value"] for r in self.get_recent_metrics("latency_ms", hours)]
        if len(values) == 0:
            return None
        limit = float(latency_threshold_ms)
        within = len([v for v in values if v <= limit])
        return within * 100.0 / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = [r["value"] for r in self.get_recent_metrics("latency_ms", hours)]
        if len(values) == 0:
            return None
        return float(_linear_percentile(values, float(q)))

    def _post(self, endpoint: str, payload: dict) -> int:
        parts = urlsplit(endpoint)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=_PROBE_TIMEOUT_S)
        try:
            body = json.dumps(payload).encode()
            path = parts.path.rstrip("/") + "/predict"
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        sent = {"features": [[0.0, 0.0, 0.0, 0.0]]} if payload is None else payload
        t0 = time.perf_counter()
        try:
            status = self._post(endpoint, sent)
        except (OSError, http.client.HTTPException):
            status = None
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        if status == 200:
            self.record_metric("latency_ms", elapsed_ms)
            self.record_metric("availability", 1.0)
            return elapsed_ms
        self.record_metric("availability", 0.0)
        return None
