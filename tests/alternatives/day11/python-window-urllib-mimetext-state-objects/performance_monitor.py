"""Latency and availability of a model server, kept in SQLite and summarised as an SLA.

Style: one long-lived autocommit connection, windowing and ordering done in Python,
a hand-written linear-interpolation percentile, and the standard library's urllib.
"""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
import urllib.error
import urllib.request
from typing import Callable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    metric TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    reading REAL NOT NULL,
    version TEXT NOT NULL
)
"""


def _linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * (q / 100.0)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


class _StayOnRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is the answer: do not follow it (a login page answering 200 is not the model)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


_NO_REDIRECTS = urllib.request.build_opener(_StayOnRedirect)


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)  # autocommit
        self._db.execute(_SCHEMA)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        stamp = self.clock()
        self._db.execute(
            "INSERT INTO samples (metric, recorded_at, reading, version) VALUES (:m, :t, :v, :ver)",
            {"m": name, "t": stamp, "v": float(value), "ver": model_version},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        now = self.clock()
        cursor = self._db.execute("SELECT recorded_at, reading FROM samples WHERE metric = :m", {"m": name})
        kept = [(t, v) for t, v in cursor if now - t <= hours * 3600]
        kept.sort(key=lambda pair: pair[0], reverse=True)
        return [{"timestamp": t, "value": v} for t, v in kept]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours=hours)
        if len(rows) == 0:
            return None
        good = [r for r in rows if r["value"] <= latency_threshold_ms]
        return len(good) * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours=hours)
        if len(rows) == 0:
            return None
        return _linear_percentile([r["value"] for r in rows], q)

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        request = urllib.request.Request(
            endpoint.rstrip("/") + "/predict",
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        began = time.monotonic()
        try:
            with _NO_REDIRECTS.open(request, timeout=3) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (OSError, http.client.HTTPException):
            status = None
        took_ms = (time.monotonic() - began) * 1000.0
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", took_ms)
        self.record_metric("availability", 1.0)
        return took_ms
