"""Back-of-envelope capacity planning."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(name: str, value: float) -> float:
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for any float (10**400)
        finite = False
    if not finite:
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite("requests_per_day", requests_per_day)
    _finite("peak_to_mean", peak_to_mean)
    if not requests_per_day > 0:
        raise ValueError("requests_per_day must be > 0")
    if not peak_to_mean >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _finite("p99_target_ms", p99_target_ms)
    if not p99_target_ms > 0:
        raise ValueError("p99_target_ms must be > 0")
    hops = list(other_hops_ms)
    for hop in hops:
        _finite("hop", hop)
        if not hop >= 0:
            raise ValueError("each hop must be >= 0")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops leave no budget ({budget} ms)")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite("workers", workers)
    _finite("mean_latency_ms", mean_latency_ms)
    if not workers >= 1:
        raise ValueError("workers must be >= 1")
    if not mean_latency_ms > 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _in_float_range("replica_qps", workers / mean_latency_ms * 1000)  # divide first: an np.int16 times 1000 wraps round


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    for name, value in (("peak_qps", peak_qps), ("qps_per_replica", qps_per_replica),
                        ("headroom", headroom), ("min_replicas", min_replicas)):
        _finite(name, value)
    if not peak_qps > 0 or not qps_per_replica > 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= headroom < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not min_replicas >= 1:
        raise ValueError("min_replicas must be >= 1")
    peak_qps, qps_per_replica, headroom = float(peak_qps), float(qps_per_replica), float(headroom)  # not float32
    needed = math.ceil(_in_float_range("replicas_needed", peak_qps / (qps_per_replica * (1 - headroom))))
    return max(math.ceil(min_replicas), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v.item() if hasattr(v, "item") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    # whole numbers multiply exactly however large; next to a float input every value must fit a float
    whole = all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication))
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if not whole:
            _finite(name, value)
        if not value > 0:
            raise ValueError(f"{name} must be > 0")
    if not whole:  # finite floats can still multiply past any float (1e200 * 1e200 is inf)
        _finite("storage", events_per_day * bytes_per_event * retention_days * replication)
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
