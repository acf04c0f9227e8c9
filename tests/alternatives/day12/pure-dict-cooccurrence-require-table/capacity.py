"""Capacity planning with a single validation table per function."""
from __future__ import annotations

import math
import sys
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _require(**checks):
    for name, (value, ok) in checks.items():
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for any float (10**400) is out of range like infinity
            finite = False
        if isinstance(value, bool) or not finite or not ok(value):
            raise ValueError(f"{name}={value!r} is out of range")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _require(requests_per_day=(requests_per_day, lambda v: v > 0), peak_to_mean=(peak_to_mean, lambda v: v >= 1))
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)  # divide first: an np.int32 count times 3 wraps round


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _require(p99_target_ms=(p99_target_ms, lambda v: v > 0))
    total = 0.0
    for i, hop in enumerate(other_hops_ms):
        _require(**{f"hop{i}": (hop, lambda v: v >= 0)})
        total += hop
    budget = p99_target_ms - total
    if not budget > 0:
        raise ValueError(f"the other hops use the whole {p99_target_ms} ms target")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _require(workers=(workers, lambda v: v >= 1 and v == int(v)), mean_latency_ms=(mean_latency_ms, lambda v: v > 0))
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    if not isinstance(min_replicas, int):
        raise ValueError("min_replicas must be a plain int")
    _require(peak_qps=(peak_qps, lambda v: v > 0), qps_per_replica=(qps_per_replica, lambda v: v > 0),
             headroom=(headroom, lambda v: 0 <= v < 1), min_replicas=(min_replicas, lambda v: v >= 1))
    usable = float(qps_per_replica) * (1 - float(headroom))  # Python floats: float32 inputs would divide in float32
    return max(min_replicas, math.ceil(_in_float_range("replicas_needed", float(peak_qps) / usable)))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v.item() if hasattr(v, "item") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    values = (events_per_day, bytes_per_event, retention_days, replication)
    if all(type(v) is int for v in values) and max(map(abs, values)) > sys.float_info.max:
        # whole numbers past any float (10**400), which _require refuses like infinity: still an exact product
        if not all(v > 0 for v in values):
            raise ValueError(f"every storage input must be > 0, got {values!r:.80}")
        return events_per_day * bytes_per_event * retention_days * replication
    for v in values:
        _require(value=(v, lambda x: x > 0))
    if all(isinstance(v, int) for v in values):
        return events_per_day * bytes_per_event * retention_days * replication
    product = events_per_day * bytes_per_event * retention_days * replication
    if not math.isfinite(product):  # finite floats can multiply past any float (1e200 * 1e200)
        raise ValueError(f"storage={product!r} is out of range")
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
