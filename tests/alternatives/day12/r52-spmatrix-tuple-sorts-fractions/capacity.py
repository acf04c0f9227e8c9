"""Capacity plan, second style: everything validated to a Fraction, exact where the answer is an int."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400


def _exact(x, name: str) -> Fraction:
    if isinstance(x, (bool, np.bool_)) or isinstance(x, (str, bytes)):
        raise ValueError(f"{name}: {x!r} is not a number")
    if isinstance(x, np.integer):
        x = int(x)
    elif isinstance(x, np.floating):
        x = float(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be finite")
        return Fraction(x)
    if isinstance(x, int):
        return Fraction(x)
    raise ValueError(f"{name}: {x!r} is not a number")


def _to_float(q: Fraction, what: str) -> float:
    try:
        v = float(q)
    except OverflowError:
        raise ValueError(f"{what} is out of float range") from None
    if not math.isfinite(v):
        raise ValueError(f"{what} is out of float range")
    return v


def _in_float_range(q: Fraction, name: str) -> Fraction:
    _to_float(q, name)
    return q


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    r = _in_float_range(_exact(requests_per_day, "requests_per_day"), "requests_per_day")
    p = _in_float_range(_exact(peak_to_mean, "peak_to_mean"), "peak_to_mean")
    if r <= 0:
        raise ValueError("requests_per_day must be > 0")
    if p < 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _to_float(r / SECONDS_PER_DAY * p, "peak_qps")


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _in_float_range(_exact(p99_target_ms, "p99_target_ms"), "p99_target_ms")
    if target <= 0:
        raise ValueError("p99_target_ms must be > 0")
    if isinstance(other_hops_ms, (str, bytes)):
        raise ValueError("hops must be numbers")
    hops = [_in_float_range(_exact(h, "hop"), "hop") for h in np.asarray(other_hops_ms, dtype=object).ravel()]
    if any(h < 0 for h in hops):
        raise ValueError("every hop must be >= 0")
    budget = target - sum(hops, Fraction(0))
    if budget <= 0:
        raise ValueError("the other hops use up the whole target")
    return _to_float(budget, "latency budget")


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    w = _in_float_range(_exact(workers, "workers"), "workers")
    lat = _in_float_range(_exact(mean_latency_ms, "mean_latency_ms"), "mean_latency_ms")
    if w < 1:
        raise ValueError("workers must be >= 1")
    if lat <= 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _to_float(w * 1000 / lat, "replica_qps")


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    p = _in_float_range(_exact(peak_qps, "peak_qps"), "peak_qps")
    q = _in_float_range(_exact(qps_per_replica, "qps_per_replica"), "qps_per_replica")
    h = _in_float_range(_exact(headroom, "headroom"), "headroom")
    floor = _exact(min_replicas, "min_replicas")
    if p <= 0 or q <= 0:
        raise ValueError("rates must be > 0")
    if not 0 <= h < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    usable = q * (1 - h)
    needed = math.ceil(p / usable)
    _to_float(Fraction(needed), "replicas")
    return max(math.ceil(floor), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    product = Fraction(1)
    for name, x in (
        ("events_per_day", events_per_day),
        ("bytes_per_event", bytes_per_event),
        ("retention_days", retention_days),
        ("replication", replication),
    ):
        q = _exact(x, name)
        if q <= 0:
            raise ValueError(f"{name} must be > 0")
        product *= q
    return math.ceil(product)
