"""Capacity plan in float64, with exact ints/Fractions where the answer is an int."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400


def _plain(x, name):
    """numpy scalars to Python numbers; refuse text, bools and anything non-real."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name}: not a number")
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, (int, float)):
        return x
    raise ValueError(f"{name}: not a number: {x!r}")


def _f(x, name) -> float:
    x = _plain(x, name)
    try:
        v = float(x)
    except OverflowError:
        raise ValueError(f"{name}: too large") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite")
    return v


def _finite(v: float, what: str) -> float:
    if not math.isfinite(v):
        raise ValueError(f"{what}: result out of range")
    return v


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    r = _f(requests_per_day, "requests_per_day")
    p = _f(peak_to_mean, "peak_to_mean")
    if not r > 0:
        raise ValueError("requests_per_day must be > 0")
    if not p >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _finite(r / SECONDS_PER_DAY * p, "peak_qps")


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    t = _f(p99_target_ms, "p99_target_ms")
    if not t > 0:
        raise ValueError("target must be > 0")
    if isinstance(other_hops_ms, (str, bytes)):
        raise ValueError("hops must be a sequence of numbers")
    total = 0.0
    for h in list(other_hops_ms):
        v = _f(h, "hop")
        if not v >= 0:
            raise ValueError("hops must be >= 0")
        total += v
    budget = _finite(t - total, "budget")
    if not budget > 0:
        raise ValueError("no latency budget left")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    w = _f(workers, "workers")
    lat = _f(mean_latency_ms, "mean_latency_ms")
    if not w >= 1:
        raise ValueError("workers must be >= 1")
    if not lat > 0:
        raise ValueError("latency must be > 0")
    return _finite(w * 1000 / lat, "replica_qps")


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    p = _f(peak_qps, "peak_qps")
    q = _f(qps_per_replica, "qps_per_replica")
    h = _f(headroom, "headroom")
    if not p > 0:
        raise ValueError("peak_qps must be > 0")
    if not q > 0:
        raise ValueError("qps_per_replica must be > 0")
    if not 0 <= h < 1:
        raise ValueError("headroom must be in [0, 1)")
    mr = _plain(min_replicas, "min_replicas")
    if isinstance(mr, float):
        if not math.isfinite(mr):
            raise ValueError("min_replicas must be finite")
    if not mr >= 1:
        raise ValueError("min_replicas must be >= 1")
    if isinstance(mr, float):
        mr = math.ceil(mr)
    usable = q * (1 - h)
    if not usable > 0:
        raise ValueError("usable capacity underflows")
    ratio = _finite(p / usable, "replicas")
    return max(mr, math.ceil(ratio))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    total = Fraction(1)
    for name, x in (
        ("events_per_day", events_per_day),
        ("bytes_per_event", bytes_per_event),
        ("retention_days", retention_days),
        ("replication", replication),
    ):
        x = _plain(x, name)
        if isinstance(x, float) and not math.isfinite(x):
            raise ValueError(f"{name}: must be finite")
        if not x > 0:
            raise ValueError(f"{name} must be > 0")
        total *= Fraction(x)
    return math.ceil(total)
