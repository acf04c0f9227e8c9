"""Style B: http.client probe, hand-written linear percentile, SQL does the window arithmetic."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """CREATE TABLE IF NOT EXISTS perf_samples (
    metric TEXT NOT NULL,
    stamp REAL NOT NULL,
    reading REAL NOT NULL,
    version TEXT NOT NULL DEFAULT 'current'
)"""


def _linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * (q / 100.0)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    frac = position - low
    a, b = ordered[low], ordered[high]
    if frac >= 0.5:
        return float(b - (b - a) * (1 - frac))
    return float(a + (b - a) * frac)


class ModelPerformanceMonitor:
    PROBE_TIMEOUT_S = 3.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute(_SCHEMA)
        finally:
            conn.close()

    def _run(self, sql: str, params: tuple) -> list[tuple]:
        conn = sqlite3.connect(self.db_path, isolation_level=None)  # autocommit
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._run("INSERT INTO perf_samples (metric, stamp, reading, version) VALUES (:m, :s, :r, :v)",
                  {"m": name, "s": float(self.clock()), "r": float(value), "v": model_version})

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        rows = self._run(
            "SELECT stamp, reading FROM perf_samples WHERE metric = :m AND stamp >= :now - :h * 3600.0 "
            "ORDER BY stamp DESC",
            {"m": name, "now": float(self.clock()), "h": float(hours)},
        )
        out = []
        for stamp, reading in rows:
            out.append({"timestamp": float(stamp), "value": float(reading)})
        return out

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours=hours)
        if len(rows) == 0:
            return None
        good = len([r for r in rows if r["value"] <= latency_threshold_ms])
        return good * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours=hours)
        if not rows:
            return None
        return _linear_percentile([r["value"] for r in rows], q)

    def _down(self) -> None:
        self.record_metric("availability", 0.0)

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        url = urlsplit(f"{endpoint}/predict")
        conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        data = json.dumps(payload).encode()
        path = url.path + (f"?{url.query}" if url.query else "")
        conn = conn_cls(url.hostname, url.port, timeout=self.PROBE_TIMEOUT_S)
        t0 = time.monotonic()
        try:
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            self._down()
            return None
        finally:
            conn.close()
        ms = (time.monotonic() - t0) * 1000.0
        if status != 200:
            self._down()
            return None
        self.record_metric("latency_ms", ms)
        self.record_metric("availability", 1.0)
        return ms
