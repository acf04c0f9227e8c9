"""Latency and availability of a model server, kept in SQLite."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
import urllib.parse
from typing import Callable


def _percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    frac = pos - lo
    return float(xs[lo] + (xs[hi] - xs[lo]) * frac)


class ModelPerformanceMonitor:
    SCHEMA = """CREATE TABLE IF NOT EXISTS samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        metric TEXT NOT NULL, stamp REAL NOT NULL, val REAL NOT NULL, version TEXT)"""

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._conn.execute(self.SCHEMA)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._conn.execute(
            "INSERT INTO samples (metric, stamp, val, version) VALUES (:m, :t, :v, :ver)",
            {"m": name, "t": self.clock() * 1.0, "v": float(value), "ver": model_version},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        now = self.clock()
        cur = self._conn.execute(
            "SELECT stamp, val FROM samples WHERE metric = :m AND stamp >= :now - :span ORDER BY stamp DESC",
            {"m": name, "now": now, "span": float(hours) * 3600},
        )
        return [dict(timestamp=float(s), value=float(v)) for s, v in cur]

    def _window(self, hours):
        return [r["value"] for r in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        vals = self._window(hours)
        if len(vals) == 0:
            return None
        good = len([v for v in vals if v <= latency_threshold_ms])
        return good * 100.0 / len(vals)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        vals = self._window(hours)
        return _percentile(vals, q) if vals else None

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        url = urllib.parse.urlsplit(endpoint)
        path = url.path.rstrip("/") + "/predict"
        data = json.dumps(payload).encode()
        conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(url.hostname, url.port, timeout=2.5)
        t0 = time.monotonic()
        try:
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            conn.close()
        elapsed = (time.monotonic() - t0) * 1000.0
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed)
        self.record_metric("availability", 1.0)
        return elapsed
