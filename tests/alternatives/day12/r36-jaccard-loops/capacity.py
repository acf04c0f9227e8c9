"""Capacity planning done in exact fractions, converted to float only for the answer."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral, Real

SECONDS_PER_DAY = 86_400
_FLOAT_MAX = Fraction(sys.float_info.max)


def _exact(value, name: str, *, any_size: bool = False) -> Fraction:
    """The value as an exact Fraction; NaN, infinity, non-numbers (and, unless any_size, ints no float holds) refused."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, Integral):
        exact = Fraction(int(value))
    else:
        as_float = float(value)
        if math.isnan(as_float) or math.isinf(as_float):
            raise ValueError(f"{name} must be finite, got {value!r}")
        exact = Fraction(as_float)
    if not any_size and abs(exact) > _FLOAT_MAX:
        raise ValueError(f"{name} is too large for a plan")
    return exact


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    requests = _exact(requests_per_day, "requests_per_day")
    peak = _exact(peak_to_mean, "peak_to_mean")
    if requests <= 0 or peak < 1:
        raise ValueError("need requests_per_day > 0 and peak_to_mean >= 1")
    return float(_in_float_range("peak_qps", requests / SECONDS_PER_DAY * peak))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _exact(p99_target_ms, "p99_target_ms")
    hops = [_exact(hop, "other hop") for hop in other_hops_ms]
    if target <= 0:
        raise ValueError("the p99 target must be > 0")
    if any(hop < 0 for hop in hops):
        raise ValueError("a hop cannot take negative time")
    left = target - sum(hops, Fraction(0))
    if left <= 0:
        raise ValueError("the other hops already spend the whole target")
    return float(left)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    count = _exact(workers, "workers")
    latency = _exact(mean_latency_ms, "mean_latency_ms")
    if count < 1 or count.denominator != 1:
        raise ValueError("workers must be a whole number >= 1")
    if latency <= 0:
        raise ValueError("mean_latency_ms must be > 0")
    return float(_in_float_range("replica_qps", count * 1000 / latency))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _exact(peak_qps, "peak_qps")
    per_replica = _exact(qps_per_replica, "qps_per_replica")
    spare = _exact(headroom, "headroom")
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, Integral):
        raise ValueError("min_replicas must be an int")
    floor = int(min_replicas)
    if peak <= 0 or per_replica <= 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= spare < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    return max(floor, math.ceil(peak / (per_replica * (1 - spare))))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    total = Fraction(1)
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        exact = _exact(value, name, any_size=True)
        if exact <= 0:
            raise ValueError(f"{name} must be > 0")
        total *= exact
    return math.ceil(total)


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
