"""Capacity arithmetic with one validation helper per kind of bound."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"{name} must be a number")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for any float (10**400)
        finite = False
    if not finite:
        raise ValueError(f"{name} must be finite, got {value!r:.40}")
    return value


def _positive(name, value):
    if not _finite(name, value) > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def _at_least(name, value, low):
    if not _finite(name, value) >= low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return value


def _whole(name, value, low):
    _at_least(name, value, low)
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _positive("requests_per_day", requests_per_day)
    _at_least("peak_to_mean", peak_to_mean, 1)
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _positive("p99_target_ms", p99_target_ms)
    hops = [_at_least("hop", hop, 0) for hop in other_hops_ms]
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops use the whole {p99_target_ms} ms target")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    workers = _whole("workers", workers, 1)
    _positive("mean_latency_ms", mean_latency_ms)
    return _in_float_range("replica_qps", workers * 1000 / mean_latency_ms)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak_qps = float(_positive("peak_qps", peak_qps))  # Python floats: numpy float32 would divide in float32
    qps_per_replica = float(_positive("qps_per_replica", qps_per_replica))
    headroom = float(_at_least("headroom", headroom, 0))
    if not headroom < 1:
        raise ValueError("headroom must be below 1")
    min_replicas = _whole("min_replicas", min_replicas, 1)
    usable = qps_per_replica * (1 - headroom)
    return max(min_replicas, math.ceil(_in_float_range("replicas_needed", peak_qps / usable)))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool)
        else float(v) if type(v).__module__ == "numpy" else v  # and numpy floats are Python floats
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if type(value) is int:  # a whole number is multiplied exactly, however large
            if value < 1:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        else:
            _positive(name, value)
    try:
        return int(math.ceil(events_per_day * bytes_per_event * retention_days * replication))
    except OverflowError:  # an int too large for a float next to a float input
        raise ValueError("a storage input is too large for a float next to a float input") from None


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
