"""Back-of-envelope capacity planning: traffic → latency budget → replicas → storage."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(name, value):
    try:
        float(value)
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        raise ValueError(f"{name} must be finite, got an int of {len(str(value))} digits") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _positive(name, value):
    _finite(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _positive("requests_per_day", requests_per_day)
    _finite("peak_to_mean", peak_to_mean)
    if peak_to_mean < 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _positive("p99_target_ms", p99_target_ms)
    for hop in other_hops_ms:
        _finite("hop", hop)
        if hop < 0:
            raise ValueError("a hop cannot take negative time")
    budget = p99_target_ms - math.fsum(other_hops_ms)
    if not budget > 0:
        raise ValueError(f"the other hops spend the whole target: {budget} ms left")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite("workers", workers)
    if workers < 1:
        raise ValueError("workers must be >= 1")
    _positive("mean_latency_ms", mean_latency_ms)
    return _in_float_range("replica_qps", float(workers) * 1000 / mean_latency_ms)  # never in an np.int16's own width


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _positive("peak_qps", peak_qps)
    _positive("qps_per_replica", qps_per_replica)
    _finite("headroom", headroom)
    if not 0 <= headroom < 1:
        raise ValueError("headroom must be in [0, 1)")
    _finite("min_replicas", min_replicas)
    if min_replicas < 1:
        raise ValueError("min_replicas must be >= 1")
    needed = math.ceil(_in_float_range("replicas_needed", float(peak_qps) / (float(qps_per_replica) * (1 - float(headroom)))))  # never in float32
    return max(math.ceil(min_replicas), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool)
        else float(v) if type(v).__module__ == "numpy" else v  # a np.float32 would keep the product in float32
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if type(value) is int:  # a whole number is exact however large: only its sign matters
            if value < 1:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        else:
            _positive(name, value)
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # a whole number past any float next to a float input
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
