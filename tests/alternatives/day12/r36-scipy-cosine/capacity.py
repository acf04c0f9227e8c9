"""Back-of-envelope capacity planning, in floats with explicit checks (exact ints for storage)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400


def _number(value, name):
    """A finite Python int or float, or ValueError."""
    if isinstance(value, np.integer):
        value = int(value)
    elif isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            finite = False
    if not finite:
        raise ValueError(f"{name} must be finite, got {value!r:.40}")
    return value


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    requests = float(_number(requests_per_day, "requests_per_day"))
    ratio = float(_number(peak_to_mean, "peak_to_mean"))
    if not requests > 0:
        raise ValueError("requests_per_day must be > 0")
    if not ratio >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests / SECONDS_PER_DAY * ratio)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = float(_number(p99_target_ms, "p99_target_ms"))
    if not target > 0:
        raise ValueError("the p99 target must be > 0")
    hops = [float(_number(hop, "hop")) for hop in other_hops_ms]
    if any(not hop >= 0 for hop in hops):
        raise ValueError("every hop must be >= 0")
    budget = target - math.fsum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops leave no budget ({budget} ms)")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    count = _number(workers, "workers")
    latency = float(_number(mean_latency_ms, "mean_latency_ms"))
    if isinstance(count, float) and not count.is_integer():
        raise ValueError("workers must be a whole number")
    if not count >= 1:
        raise ValueError("workers must be >= 1")
    if not latency > 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _in_float_range("replica_qps", float(count) * 1000.0 / latency)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = float(_number(peak_qps, "peak_qps"))
    per_replica = float(_number(qps_per_replica, "qps_per_replica"))
    spare = float(_number(headroom, "headroom"))
    if isinstance(min_replicas, np.integer):
        min_replicas = int(min_replicas)
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, (int, float)):
        raise ValueError("min_replicas must be a number")
    if isinstance(min_replicas, float):
        if not math.isfinite(min_replicas):
            raise ValueError("min_replicas must be finite")
        floor = math.ceil(min_replicas)
    else:
        floor = min_replicas
    if not peak > 0 or not per_replica > 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= spare < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not floor >= 1 or min_replicas < 1:
        raise ValueError("min_replicas must be >= 1")
    ratio = peak / (per_replica * (1 - spare))
    if not math.isfinite(ratio):
        raise ValueError("the load is too large to plan")
    return max(floor, math.ceil(ratio))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    factors = []
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be finite")
        if not value > 0:
            raise ValueError(f"{name} must be > 0")
        factors.append(value)
    if all(isinstance(value, int) for value in factors):
        return math.prod(factors)
    return math.ceil(math.prod(Fraction(value) for value in factors))


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
