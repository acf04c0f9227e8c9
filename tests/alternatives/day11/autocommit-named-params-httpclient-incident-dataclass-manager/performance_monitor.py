"""Monitor, style B: one autocommit SQLite connection, SQL-side window arithmetic,
hand-written percentile, and a probe over http.client."""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from typing import Callable
from urllib.parse import urlsplit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    metric TEXT NOT NULL,
    stamp REAL NOT NULL,
    reading REAL NOT NULL,
    version TEXT NOT NULL DEFAULT 'current'
)
"""


def _interpolated(sorted_values: list[float], q: float) -> float:
    position = (len(sorted_values) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    a, b = sorted_values[lower], sorted_values[upper]
    return a + (b - a) * fraction


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute(_SCHEMA)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        self._db.execute("INSERT INTO samples (metric, stamp, reading, version) VALUES (:m, :t, :v, :ver)",
                         {"m": name, "t": self.clock(), "v": float(value), "ver": model_version})

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        cursor = self._db.execute(
            "SELECT CAST(stamp AS REAL), CAST(reading AS REAL) FROM samples "
            "WHERE metric = :m AND stamp >= :now - :hours * 3600.0 ORDER BY stamp DESC, id DESC",
            {"m": name, "now": self.clock(), "hours": float(hours)},
        )
        return [dict(timestamp=float(t), value=float(v)) for t, v in cursor]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours=hours)
        if len(rows) == 0:
            return None
        within = len([r for r in rows if r["value"] <= latency_threshold_ms])
        return within * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = sorted(r["value"] for r in self.get_recent_metrics("latency_ms", hours=hours))
        return _interpolated(values, q) if values else None

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        parts = urlsplit(endpoint)
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        body = json.dumps(payload).encode()
        conn = conn_class(parts.hostname, parts.port, timeout=5)
        ok = False
        began = time.monotonic()
        try:
            conn.request("POST", parts.path + "/predict", body=body, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            elapsed_ms = (time.monotonic() - began) * 1000.0
            ok = answer.status == 200
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
