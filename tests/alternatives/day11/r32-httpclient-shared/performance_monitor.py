"""Style: one shared connection (check_same_thread=False) behind a lock, http.client probe,
percentile computed by hand-rolled linear interpolation."""
from __future__ import annotations

import http.client
import json
import math
import socket
import sqlite3
import threading
import time
from typing import Callable
from urllib.parse import urlsplit


class ModelPerformanceMonitor:
    PROBE_TIMEOUT_S = 2.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS perf_samples (metric TEXT NOT NULL, recorded_at REAL NOT NULL, "
            "sample REAL NOT NULL, version TEXT)")

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        stamp = float(self.clock())
        with self._lock:
            self._conn.execute("INSERT INTO perf_samples (metric, recorded_at, sample, version) VALUES (:m, :t, :v, :ver)",
                               {"m": name, "t": stamp, "v": float(value), "ver": model_version})

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        now = float(self.clock())
        with self._lock:
            cur = self._conn.execute(
                "SELECT recorded_at, sample FROM perf_samples WHERE metric = :m AND recorded_at >= :now - :secs "
                "ORDER BY recorded_at DESC", {"m": name, "now": now, "secs": float(hours) * 3600.0})
            rows = cur.fetchall()
        return [dict(timestamp=float(t), value=float(v)) for t, v in rows]

    def _values(self, hours):
        return sorted(r["value"] for r in self.get_recent_metrics("latency_ms", hours))

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._values(hours)
        if len(values) == 0:
            return None
        within = len([v for v in values if v <= latency_threshold_ms])
        return within * 100.0 / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._values(hours)
        if not values:
            return None
        pos = (len(values) - 1) * (q / 100.0)
        lo = math.floor(pos)
        hi = min(lo + 1, len(values) - 1)
        frac = pos - lo
        # same formula as numpy's "linear" method (lerp)
        a, b = values[lo], values[hi]
        diff = b - a
        return float(a + diff * frac) if frac < 0.5 else float(b - diff * (1 - frac))

    def _down(self) -> None:
        self.record_metric("availability", 0.0)
        return None

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        parts = urlsplit(endpoint)
        path = parts.path.rstrip("/") + "/predict"
        body = json.dumps({"features": [[0.0] * 4]} if payload is None else payload).encode()
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=self.PROBE_TIMEOUT_S)
        try:
            t0 = time.monotonic()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            elapsed_ms = (time.monotonic() - t0) * 1000.0
            status = resp.status
        except (OSError, http.client.HTTPException):
            return self._down()
        finally:
            conn.close()
        if status != 200:
            return self._down()
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
