"""Correct answer B: one long-lived autocommit connection, pure-Python percentile, urllib."""
from __future__ import annotations

import http.client
import json
import math
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

PROBE_TIMEOUT_S = 5.0


def _interpolated(sorted_values, q):
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


class _StayOnRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is the answer: do not follow it (a login page answering 200 is not the model)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


_NO_REDIRECTS = urllib.request.build_opener(_StayOnRedirect)


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS samples (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                metric TEXT NOT NULL,
                version TEXT NOT NULL,
                recorded_at REAL NOT NULL,
                value REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS samples_by_metric_time ON samples (metric, recorded_at);
            """
        )

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        stamp = float(self.clock())
        with self._lock:
            self._conn.execute(
                "INSERT INTO samples (metric, version, recorded_at, value) VALUES (:m, :v, :t, :x)",
                {"m": name, "v": model_version, "t": stamp, "x": float(value)},
            )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cutoff = self.clock() - float(hours) * 60 * 60
        with self._lock:
            cursor = self._conn.execute(
                "SELECT recorded_at, value FROM samples WHERE metric = :m AND recorded_at >= :c "
                "ORDER BY recorded_at DESC, id DESC",
                {"m": name, "c": cutoff},
            )
            return [dict(timestamp=r[0], value=r[1]) for r in cursor]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours)
        if len(rows) == 0:
            return None
        good = len([r for r in rows if r["value"] <= latency_threshold_ms])
        return good * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = sorted(r["value"] for r in self.get_recent_metrics("latency_ms", hours))
        return _interpolated(values, q) if values else None

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        request = urllib.request.Request(
            endpoint.rstrip("/") + "/predict",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        t0 = time.monotonic_ns()
        ok = False
        try:
            with _NO_REDIRECTS.open(request, timeout=PROBE_TIMEOUT_S) as response:
                response.read()
                ok = response.status == 200
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
            ok = False
        elapsed_ms = (time.monotonic_ns() - t0) / 1e6
        if not ok:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
