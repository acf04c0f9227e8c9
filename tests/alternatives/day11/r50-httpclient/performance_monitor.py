"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

Style B: one long-lived connection guarded by a lock, http.client for the probe,
percentiles computed by hand (linear interpolation, numpy's default).
"""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import ssl
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS perf_samples (
    metric TEXT NOT NULL,
    model_version TEXT,
    recorded_at REAL NOT NULL,
    sample REAL NOT NULL
)
"""


class ModelPerformanceMonitor:
    PROBE_TIMEOUT_S = 3.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
        with self._lock:
            self._conn.execute(_SCHEMA)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        row = (name, model_version, float(self.clock()), float(value))
        with self._lock:
            self._conn.execute(
                "INSERT INTO perf_samples (metric, model_version, recorded_at, sample) VALUES (?, ?, ?, ?)", row
            )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        now = float(self.clock())
        window = float(hours) * 3600
        with self._lock:
            cur = self._conn.execute(
                "SELECT recorded_at, sample FROM perf_samples "
                "WHERE metric = ? AND recorded_at >= ? - ? ORDER BY recorded_at DESC",
                (name, now, window),
            )
            rows = cur.fetchall()
        return [dict(timestamp=float(r[0]), value=float(r[1])) for r in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        samples = self.get_recent_metrics("latency_ms", hours)
        if len(samples) == 0:
            return None
        limit = float(latency_threshold_ms)
        within = len([s for s in samples if s["value"] <= limit])
        return within * 100.0 / len(samples)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = sorted(s["value"] for s in self.get_recent_metrics("latency_ms", hours))
        if not values:
            return None
        pos = (len(values) - 1) * float(q) / 100.0
        lo = math.floor(pos)
        hi = min(lo + 1, len(values) - 1)
        frac = pos - lo
        if frac == 0:
            return values[lo]
        return values[lo] + (values[hi] - values[lo]) * frac

    def _post(self, url: str, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(url)
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.PROBE_TIMEOUT_S, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.PROBE_TIMEOUT_S)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, data
        finally:
            conn.close()

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0, 0.0, 0.0, 0.0]]}
        body = json.dumps(payload).encode()
        url = f"{endpoint}/predict"
        t0 = time.perf_counter()
        try:
            status, _ = self._post(url, body)
        except (OSError, http.client.HTTPException):
            status = None
        t1 = time.perf_counter()
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        latency = (t1 - t0) * 1000.0
        self.record_metric("latency_ms", latency)
        self.record_metric("availability", 1.0)
        return latency
