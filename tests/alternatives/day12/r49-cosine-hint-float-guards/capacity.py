"""Back-of-envelope capacity planning (floats, with overflow guards; exact ints for storage)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _num(value, name):
    """A finite real as a Python int or float; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    if isinstance(value, numbers.Integral):
        value = int(value)
    else:
        value = float(value)
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite")
    return value


def _finite_result(compute):
    try:
        result = compute()
    except (OverflowError, ZeroDivisionError):
        raise ValueError("result is past a float's range") from None
    if not math.isfinite(result):
        raise ValueError("result is past a float's range")
    return result


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    rpd = _num(requests_per_day, "requests_per_day")
    ptm = _num(peak_to_mean, "peak_to_mean")
    if not rpd > 0:
        raise ValueError("requests_per_day must be > 0")
    if not ptm >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _finite_result(lambda: float(rpd) / SECONDS_PER_DAY * float(ptm))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _num(p99_target_ms, "p99_target_ms")
    if not target > 0:
        raise ValueError("p99_target_ms must be > 0")
    hops = [_num(h, "hop") for h in other_hops_ms]
    for h in hops:
        if not h >= 0:
            raise ValueError("every hop must be >= 0")
    budget = _finite_result(lambda: float(target) - math.fsum(float(h) for h in hops))
    if not budget > 0:
        raise ValueError("the other hops spend the whole budget")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    w = _num(workers, "workers")
    lat = _num(mean_latency_ms, "mean_latency_ms")
    if not w >= 1:
        raise ValueError("workers must be >= 1")
    if not lat > 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _finite_result(lambda: float(w) * 1000.0 / float(lat))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _num(peak_qps, "peak_qps")
    per = _num(qps_per_replica, "qps_per_replica")
    room = _num(headroom, "headroom")
    floor = _num(min_replicas, "min_replicas")
    if not peak > 0:
        raise ValueError("peak_qps must be > 0")
    if not per > 0:
        raise ValueError("qps_per_replica must be > 0")
    if not 0 <= room < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not floor >= 1:
        raise ValueError("min_replicas must be >= 1")
    floor = math.ceil(floor)  # plain int, fractions rounded up
    ratio = _finite_result(lambda: float(peak) / (float(per) * (1.0 - float(room))))
    return max(floor, math.ceil(ratio))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    args = [("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
            ("retention_days", retention_days), ("replication", replication)]
    exact = []
    for name, value in args:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number")
        if isinstance(value, numbers.Integral):
            v = Fraction(int(value))
        else:
            f = float(value)
            if not math.isfinite(f):
                raise ValueError(f"{name} must be finite")
            v = Fraction(f)
        if not v > 0:
            raise ValueError(f"{name} must be > 0")
        exact.append(v)
    product = exact[0] * exact[1] * exact[2] * exact[3]
    return int(math.ceil(product))
