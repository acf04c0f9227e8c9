"""Back-of-envelope capacity planning."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(value):
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        return False


def _positive(name, value):
    if not (_finite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _positive("requests_per_day", requests_per_day)
    if not (_finite(peak_to_mean) and peak_to_mean >= 1):
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _positive("p99_target_ms", p99_target_ms)
    hops = list(other_hops_ms)
    for hop in hops:
        if not (_finite(hop) and hop >= 0):
            raise ValueError(f"hop must be >= 0, got {hop!r}")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError("the other hops spend the whole budget")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    if not (_finite(workers) and workers >= 1 and workers == int(workers)):
        raise ValueError("workers must be a whole number >= 1")
    _positive("mean_latency_ms", mean_latency_ms)
    return _in_float_range("replica_qps", int(workers) * 1000 / mean_latency_ms)  # a Python int: an np.int16 never wraps


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _positive("peak_qps", peak_qps)
    _positive("qps_per_replica", qps_per_replica)
    if not (_finite(headroom) and 0 <= headroom < 1):
        raise ValueError("headroom must be in [0, 1)")
    _positive("min_replicas", min_replicas)  # an int past any float (10**400) is refused before math.isfinite below
    peak_qps, qps_per_replica, headroom = (float(v) for v in (peak_qps, qps_per_replica, headroom))  # never float32
    if not (math.isfinite(min_replicas) and min_replicas >= 1 and min_replicas == int(min_replicas)):
        raise ValueError("min_replicas must be a whole number >= 1")
    return max(int(min_replicas), math.ceil(_in_float_range("replicas_needed", peak_qps / (qps_per_replica * (1 - headroom)))))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v.item() if hasattr(v, "item") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    whole = all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication))
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if not whole:
            _positive(name, value)
        elif value < 1:  # whole numbers multiply exactly however large: only the sign is checked
            raise ValueError(f"{name} must be > 0, got {value!r}")
    if not whole and not _finite(events_per_day * bytes_per_event * retention_days * replication):
        raise ValueError("the storage product is past any float (1e200 * 1e200 is inf)")
    return math.ceil(events_per_day * bytes_per_event * retention_days * replication)


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
