"""Alt: plain sqlite3 with named parameters, http.client, hand-written percentile."""
from __future__ import annotations

import http.client
import json
import math
import sqlite3
import time
from contextlib import closing
from typing import Callable
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 2.0


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS samples ("
                " metric TEXT NOT NULL, recorded_at REAL NOT NULL, value REAL NOT NULL, version TEXT)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS samples_by_metric ON samples (metric, recorded_at)")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        return conn

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        stamp = self.clock()
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO samples (metric, recorded_at, value, version) VALUES (:metric, :at, :value, :version)",
                {"metric": name, "at": stamp, "value": float(value), "version": model_version},
            )

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        oldest = self.clock() - float(hours) * 3600
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT recorded_at, value FROM samples WHERE metric = :metric AND recorded_at >= :oldest"
                " ORDER BY recorded_at DESC",
                {"metric": name, "oldest": oldest},
            ).fetchall()
        return [{"timestamp": row["recorded_at"], "value": row["value"]} for row in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        rows = self.get_recent_metrics("latency_ms", hours)
        if len(rows) == 0:
            return None
        within = len([r for r in rows if r["value"] <= latency_threshold_ms])
        return within * 100.0 / len(rows)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        ordered = sorted(r["value"] for r in self.get_recent_metrics("latency_ms", hours))
        if not ordered:
            return None
        position = (len(ordered) - 1) * q / 100.0
        below = math.floor(position)
        above = min(below + 1, len(ordered) - 1)
        fraction = position - below
        return ordered[below] + (ordered[above] - ordered[below]) * fraction

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = {"features": [[0.0] * 4]}
        parts = urlsplit(endpoint)
        path = parts.path.rstrip("/") + "/predict"
        data = json.dumps(payload).encode()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=PROBE_TIMEOUT_S)
        try:
            began = time.perf_counter()
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            took_ms = 1000.0 * (time.perf_counter() - began)
            status = response.status
        except (OSError, http.client.HTTPException):
            status, took_ms = None, None
        finally:
            conn.close()
        if status == 200:
            self.record_metric("latency_ms", took_ms)
            self.record_metric("availability", 1.0)
            return took_ms
        self.record_metric("availability", 0.0)
        return None
