"""Alt A: one short connection per call, hand-written percentile, urllib probe."""
from __future__ import annotations

import json
import math
import sqlite3
import time
import http.client
import urllib.error
import urllib.request
from contextlib import closing
from typing import Callable

_DEFAULT = {"features": [[0.0, 0.0, 0.0, 0.0]]}


class _StayOnRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is the answer: do not follow it (a login page answering 200 is not the model)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


_NO_REDIRECTS = urllib.request.build_opener(_StayOnRedirect)


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS samples ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT, metric TEXT NOT NULL, at REAL NOT NULL,"
                " value REAL NOT NULL, version TEXT)"
            )

    def _connect(self):
        return sqlite3.connect(self.db_path, timeout=10)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        at = float(self.clock())
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT INTO samples (metric, at, value, version) VALUES (:m, :a, :v, :ver)",
                         {"m": name, "a": at, "v": float(value), "ver": model_version})

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        since = self.clock() - float(hours) * 3600
        with closing(self._connect()) as conn:
            cur = conn.execute("SELECT at, value FROM samples WHERE metric = :m AND at >= :s ORDER BY at DESC, id DESC",
                               {"m": name, "s": since})
            return [{"timestamp": at, "value": value} for at, value in cur]

    def _latencies(self, hours):
        return sorted(r["value"] for r in self.get_recent_metrics("latency_ms", hours))

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        ok = 0
        for v in values:
            if v <= latency_threshold_ms:
                ok += 1
        return ok * 100.0 / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        pos = (len(values) - 1) * q / 100.0
        lo = math.floor(pos)
        hi = min(lo + 1, len(values) - 1)
        frac = pos - lo
        return values[lo] + (values[hi] - values[lo]) * frac

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        body = json.dumps(_DEFAULT if payload is None else payload).encode()
        req = urllib.request.Request(endpoint.rstrip("/") + "/predict", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        t0 = time.monotonic()
        try:
            with _NO_REDIRECTS.open(req, timeout=3) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        except (OSError, http.client.HTTPException):
            status = None
        elapsed_ms = (time.monotonic() - t0) * 1000.0
        if status != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
