"""Capacity arithmetic with exact rationals (fractions.Fraction) for the storage product."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _real(name, value, any_size=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    if isinstance(value, numbers.Integral):
        value = int(value)  # a Python int: numpy integers never wrap round in their own width
        if not any_size:
            try:
                float(value)
            except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
                raise ValueError(f"{name} must be finite") from None
        return value
    if value != value or value in (math.inf, -math.inf):
        raise ValueError(f"{name} must be finite")
    return value


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    requests_per_day = _real("requests_per_day", requests_per_day)
    peak_to_mean = _real("peak_to_mean", peak_to_mean)
    if not requests_per_day > 0:
        raise ValueError("requests_per_day must be > 0")
    if not peak_to_mean >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _real("p99_target_ms", p99_target_ms)
    if not target > 0:
        raise ValueError("target must be > 0")
    hops = [_real("hop", h) for h in other_hops_ms]
    if any(not h >= 0 for h in hops):
        raise ValueError("hops must be >= 0")
    budget = target - sum(hops)
    if not budget > 0:
        raise ValueError("the other hops spend the whole budget")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    workers = _real("workers", workers)
    latency = _real("mean_latency_ms", mean_latency_ms)
    if not workers >= 1:
        raise ValueError("workers must be >= 1")
    if not latency > 0:
        raise ValueError("latency must be > 0")
    return _in_float_range("replica_qps", workers * 1000 / latency)


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    peak = _real("peak_qps", peak_qps)
    per = _real("qps_per_replica", qps_per_replica)
    headroom = _real("headroom", headroom)
    floor = _real("min_replicas", min_replicas)
    if not peak > 0 or not per > 0:
        raise ValueError("loads must be > 0")
    if not 0 <= headroom < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not floor >= 1:
        raise ValueError("min_replicas must be >= 1")
    needed = math.ceil(_in_float_range("replicas_needed", float(peak) / (float(per) * (1 - float(headroom)))))  # np.float32 values in float64
    return max(int(math.ceil(floor)), int(needed))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    total = Fraction(1)
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        value = _real(name, value, any_size=True)  # an exact Fraction however large
        if not value > 0:
            raise ValueError(f"{name} must be > 0")
        total *= Fraction(int(value)) if isinstance(value, numbers.Integral) else Fraction(float(value))
    return int(math.ceil(total))


def _in_float_range(name, value):
    """A result from finite inputs can still be past a float's range (1e308 QPS on 1e-10 QPS replicas is inf):
    refuse it with ValueError rather than return inf or let math.ceil(inf) raise OverflowError."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # a Fraction or int too large for a float
        finite = False
    if not finite:
        raise ValueError(f"{name} is past the range of a float for these inputs")
    return value
