"""Alt: SQLAlchemy Core, httpx, numpy.percentile."""
from __future__ import annotations

import time
from typing import Callable

import httpx
import numpy as np
from sqlalchemy import Column, Float, MetaData, String, Table, create_engine, insert, select

DEFAULT_PAYLOAD = {"features": [[0.0, 0.0, 0.0, 0.0]]}
_meta = MetaData()
metrics = Table(
    "metrics", _meta,
    Column("ts", Float, nullable=False),
    Column("name", String, nullable=False),
    Column("value", Float, nullable=False),
    Column("model_version", String),
)


class ModelPerformanceMonitor:
    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock
        self.engine = create_engine(f"sqlite:///{db_path}")
        _meta.create_all(self.engine)

    def record_metric(self, name: str, value: float, model_version: str = "current") -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(metrics).values(ts=self.clock(), name=name, value=float(value),
                                                model_version=model_version))

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        since = self.clock() - float(hours) * 3600
        query = (select(metrics.c.ts, metrics.c.value)
                 .where(metrics.c.name == name, metrics.c.ts >= since)
                 .order_by(metrics.c.ts.desc()))
        with self.engine.connect() as conn:
            return [{"timestamp": ts, "value": value} for ts, value in conn.execute(query)]

    def _latencies(self, hours: float) -> list[float]:
        return [row["value"] for row in self.get_recent_metrics("latency_ms", hours)]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        return 100.0 * sum(1 for v in values if v <= latency_threshold_ms) / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        values = self._latencies(hours)
        if not values:
            return None
        return float(np.percentile(values, q))

    def check_model_latency(self, endpoint: str, payload: dict | None = None) -> float | None:
        body = DEFAULT_PAYLOAD if payload is None else payload
        start = time.perf_counter()
        try:
            response = httpx.post(f"{endpoint}/predict", json=body, timeout=3.0)
        except httpx.HTTPError:
            self.record_metric("availability", 0.0)
            return None
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if response.status_code != 200:
            self.record_metric("availability", 0.0)
            return None
        self.record_metric("latency_ms", elapsed_ms)
        self.record_metric("availability", 1.0)
        return elapsed_ms
