"""Capacity planning computed on exact fractions, converted to float only at the end."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400
_FLOAT_MAX = Fraction(np.finfo(np.float64).max.item())


def _exact(value, name: str) -> Fraction:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: a bool is not a number")
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            raise ValueError(f"{name} must be finite")
        return Fraction(f)
    raise ValueError(f"{name} must be a number, got {type(value).__name__}")


def _bounded(value, name: str) -> Fraction:
    """An exact value that a float can hold (ints past 1.8e308 are as bad as infinity)."""
    exact = _exact(value, name)
    if abs(exact) > _FLOAT_MAX:
        raise ValueError(f"{name} is too large for a float")
    return exact


def _as_float(exact: Fraction) -> float:
    if abs(exact) > _FLOAT_MAX:
        raise ValueError("the result is past a float's range")
    return float(exact)


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    requests = _bounded(requests_per_day, "requests_per_day")
    ratio = _bounded(peak_to_mean, "peak_to_mean")
    if requests <= 0:
        raise ValueError("requests_per_day must be > 0")
    if ratio < 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _as_float(requests / SECONDS_PER_DAY * ratio)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _bounded(p99_target_ms, "p99_target_ms")
    if target <= 0:
        raise ValueError("p99_target_ms must be > 0")
    spent = Fraction(0)
    for hop in list(other_hops_ms):
        hop = _bounded(hop, "hop")
        if hop < 0:
            raise ValueError("a hop cannot be negative")
        spent += hop
    left = target - spent
    if left <= 0:
        raise ValueError("no budget left for the model")
    return _as_float(left)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    n = _bounded(workers, "workers")
    latency = _bounded(mean_latency_ms, "mean_latency_ms")
    if n < 1:
        raise ValueError("workers must be >= 1")
    if latency <= 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _as_float(n * 1000 / latency)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _bounded(peak_qps, "peak_qps")
    per_replica = _bounded(qps_per_replica, "qps_per_replica")
    spare = _bounded(headroom, "headroom")
    floor = _exact(min_replicas, "min_replicas")
    if peak <= 0 or per_replica <= 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= spare < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    needed = math.ceil(peak / (per_replica * (1 - spare)))
    return max(math.ceil(floor), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    factors = [
        _exact(events_per_day, "events_per_day"),
        _exact(bytes_per_event, "bytes_per_event"),
        _exact(retention_days, "retention_days"),
        _exact(replication, "replication"),
    ]
    if any(f <= 0 for f in factors):
        raise ValueError("every storage input must be > 0")
    total = Fraction(1)
    for f in factors:
        total *= f
    return math.ceil(total)
