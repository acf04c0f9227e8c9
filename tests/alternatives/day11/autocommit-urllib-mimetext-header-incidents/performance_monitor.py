"""Latency and availability of a model server, kept in SQLite and summarised as an SLA."""

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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    metric TEXT NOT NULL,
    stamp REAL NOT NULL,
    reading REAL NOT NULL,
    version TEXT NOT NULL
)
"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is the answer, not a hop


_opener = urllib.request.build_opener(_NoRedirect)


def _interpolated(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy's default method."""
    position = (len(sorted_values) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    low, high = sorted_values[lower], sorted_values[upper]
    return low + (high - low) * fraction if fraction else low


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        # One connection in autocommit mode: every INSERT is on disk when it returns.
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute(_SCHEMA)

    def __del__(self) -> None:
        try:
            self._db.close()
        except Exception:
            pass

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._db.execute(
            "INSERT INTO samples (metric, stamp, reading, version) VALUES (:metric, :stamp, :reading, :version)",
            {"metric": name, "stamp": self.clock(), "reading": float(value), "version": model_version},
        )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cursor = self._db.execute(
            "SELECT stamp, reading FROM samples WHERE metric = :metric AND stamp >= :start "
            "ORDER BY stamp DESC, id DESC",
            {"metric": name, "start": self.clock() - float(hours) * 3600},
        )
        return [{"timestamp": float(stamp), "value": float(reading)} for stamp, reading in cursor]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours)
        if len(rows) == 0:
            return None
        within = len([r for r in rows if r["value"] <= latency_threshold_ms])
        return within * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = sorted(r["value"] for r in self.get_recent_metrics("latency_ms", hours))
        if not values:
            return None
        return float(_interpolated(values, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        request = urllib.request.Request(
            f"{endpoint}/predict",
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        began = time.monotonic_ns()
        try:
            with _opener.open(request, timeout=5) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            error.close()
            status = error.code
        except (OSError, http.client.HTTPException):
            # refused, timed out, or an answer that is not HTTP / cut short: the server is broken
            status = None
        elapsed_ms = (time.monotonic_ns() - began) / 1e6
        if status == 200:
            self.record_metric("latency_ms", elapsed_ms)
            self.record_metric("availability", 1.0)
            return elapsed_ms
        self.record_metric("availability", 0.0)
        return None
