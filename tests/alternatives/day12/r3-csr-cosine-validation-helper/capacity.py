"""Answer A: one validation helper per rule, math.ceil."""
from __future__ import annotations

import math

SECONDS_PER_DAY = 86_400


def _finite(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _fits_a_float(value):
        raise ValueError(f"{name} must be a finite number, got {value!r:.40}")
    return value


def _fits_a_float(value):
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for any float (10**400)
        return False


def _positive(name, value):
    if not _finite(name, value) > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def peak_qps(requests_per_day, peak_to_mean=3.0):
    _positive("requests_per_day", requests_per_day)
    if _finite("peak_to_mean", peak_to_mean) < 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms, other_hops_ms):
    _positive("p99_target_ms", p99_target_ms)
    hops = list(other_hops_ms)
    for hop in hops:
        if _finite("hop", hop) < 0:
            raise ValueError("a hop cannot take negative time")
    budget = p99_target_ms - sum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops use the whole target: {budget} ms left")
    return budget


def replica_qps(workers, mean_latency_ms):
    if _finite("workers", workers) < 1 or workers != int(workers):
        raise ValueError("workers must be a whole number >= 1")
    _positive("mean_latency_ms", mean_latency_ms)
    return _in_float_range("replica_qps", workers * 1000 / mean_latency_ms)


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _positive("peak_qps", peak_qps)
    _positive("qps_per_replica", qps_per_replica)
    if not 0 <= _finite("headroom", headroom) < 1:
        raise ValueError("headroom must be in [0, 1)")
    if _finite("min_replicas", min_replicas) < 1 or min_replicas != int(min_replicas):
        raise ValueError("min_replicas must be a whole number >= 1")
    return max(int(min_replicas), math.ceil(_in_float_range("replicas_needed", peak_qps / (qps_per_replica * (1 - headroom)))))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if type(value) is int:  # whole numbers multiply exactly however large
            if value < 1:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        else:
            _positive(name, value)
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # an int too large for a float next to a float input
        raise ValueError("an int too large for a float next to a float input") from None


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
