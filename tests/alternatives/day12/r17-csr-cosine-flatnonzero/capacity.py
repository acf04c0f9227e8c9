"""Back-of-envelope capacity planning with plain math."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(name, value):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite")
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
        raise ValueError("target must be > 0")
    hops = list(other_hops_ms)
    for hop in hops:
        _finite("hop", hop)
        if not hop >= 0:
            raise ValueError("hops must be >= 0")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError("the budget is already spent")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite("workers", workers)
    _finite("mean_latency_ms", mean_latency_ms)
    if not workers >= 1 or workers != int(workers):
        raise ValueError("workers must be a whole number >= 1")
    if not mean_latency_ms > 0:
        raise ValueError("latency must be > 0")
    return _in_float_range("replica_qps", int(workers) * 1000 / mean_latency_ms)  # a Python int: an np.int16 count never wraps


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
    floor = math.ceil(min_replicas)
    ratio = float(peak_qps) / (float(qps_per_replica) * (1 - float(headroom)))  # float64 even for np.float32 inputs
    return max(floor, math.ceil(_in_float_range("replicas_needed", ratio)))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else float(v) if hasattr(v, "dtype") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if type(value) is not int:  # a plain int is multiplied exactly, however large
            _finite(name, value)
        if not value > 0:
            raise ValueError(f"{name} must be > 0")
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # an int past any float next to a float input: refused like infinity
        raise ValueError("storage inputs: an int too large for a float next to a float") from None


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
