"""One long-lived SQLite connection (autocommit, shared across threads under a lock),
http.client for the probe, and a hand-written linear percentile."""
from __future__ import annotations

import http.client
import json
import math
import sqlite3
import threading
import time
from typing import Callable
from urllib.parse import urlsplit


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS samples ("
            " metric TEXT NOT NULL, at REAL NOT NULL, reading REAL NOT NULL, version TEXT)"
        )

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        params = {"metric": name, "at": float(self.clock()), "reading": float(value), "version": model_version}
        with self._lock:
            self._db.execute("INSERT INTO samples (metric, at, reading, version) "
                             "VALUES (:metric, :at, :reading, :version)", params)

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        now = float(self.clock())
        cutoff = now - float(hours) * 3600.0
        with self._lock:
            cur = self._db.execute(
                "SELECT at, reading FROM samples WHERE metric = :metric AND at >= :cutoff ORDER BY at DESC",
                {"metric": name, "cutoff": cutoff},
            )
            rows = cur.fetchall()
        return [dict(timestamp=float(at), value=float(reading)) for at, reading in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        window = self.get_recent_metrics("latency_ms", hours)
        if len(window) == 0:
            return None
        threshold = float(latency_threshold_ms)
        good = len([s for s in window if s["value"] <= threshold])
        return good * 100.0 / len(window)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        ordered = sorted(s["value"] for s in self.get_recent_metrics("latency_ms", hours))
        if not ordered:
            return None
        rank = (len(ordered) - 1) * float(q) / 100.0
        lo = math.floor(rank)
        hi = min(lo + 1, len(ordered) - 1)
        frac = rank - lo
        a, b = ordered[lo], ordered[hi]
        if frac >= 0.5:
            return b - (b - a) * (1 - frac)
        return a + (b - a) * frac

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0, 0.0, 0.0, 0.0]]}
        parts = urlsplit(endpoint)
        path = parts.path.rstrip("/") + "/predict"
        data = json.dumps(payload).encode()
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=5.0)
        ok = False
        try:
            t0 = time.perf_counter()
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            elapsed_ms = (time.perf_counter() - t0) * 1000.0
            ok = resp.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            conn.close()
        if not ok:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
