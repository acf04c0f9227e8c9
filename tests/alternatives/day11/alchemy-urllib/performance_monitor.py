"""Latency and availability of a model server, kept in SQLite (through SQLAlchemy Core)."""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.error
import urllib.request
from typing import Callable

from sqlalchemy import Column, Float, Index, MetaData, String, Table, create_engine, select

_metadata = MetaData()
samples = Table(
    "samples",
    _metadata,
    Column("recorded_at", Float, nullable=False),
    Column("metric", String, nullable=False),
    Column("value", Float, nullable=False),
    Column("model_version", String),
    Index("samples_metric_time", "metric", "recorded_at"),
)

DEFAULT_PAYLOAD = {"features": [[0.0, 0.0, 0.0, 0.0]]}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx then surfaces as HTTPError


_opener = urllib.request.build_opener(_NoRedirects)


def _interpolated_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


class ModelPerformanceMonitor:
    probe_timeout_s = 5.0

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self._engine = create_engine(f"sqlite:///{db_path}")
        _metadata.create_all(self._engine)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        with self._engine.begin() as conn:
            conn.execute(samples.insert().values(recorded_at=self.clock(), metric=name, value=value,
                                                 model_version=model_version))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        start = self.clock() - float(hours) * 3600
        query = (select(samples.c.recorded_at, samples.c.value)
                 .where(samples.c.metric == name, samples.c.recorded_at >= start)
                 .order_by(samples.c.recorded_at.desc()))
        with self._engine.connect() as conn:
            return [{"timestamp": float(r.recorded_at), "value": float(r.value)} for r in conn.execute(query)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        window = self.get_recent_metrics("latency_ms", hours)
        if len(window) == 0:
            return None
        good = [row for row in window if row["value"] <= latency_threshold_ms]
        return len(good) * 100.0 / len(window)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        window = [row["value"] for row in self.get_recent_metrics("latency_ms", hours)]
        return _interpolated_percentile(window, q) if window else None

    def _post(self, url: str, payload) -> int:
        request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with _opener.open(request, timeout=self.probe_timeout_s) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            error.close()
            return error.code

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        if payload is None:
            payload = DEFAULT_PAYLOAD
        started = time.monotonic()
        try:
            status = self._post(f"{endpoint}/predict", payload)
        except (urllib.error.URLError, http.client.HTTPException, OSError):
            status = None
        elapsed_ms = (time.monotonic() - started) * 1000.0
        healthy = status == 200
        if healthy:
            self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0 if healthy else 0.0)
        return elapsed_ms if healthy else None
