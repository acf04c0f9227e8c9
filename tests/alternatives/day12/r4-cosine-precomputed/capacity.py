"""Back-of-envelope capacity planning (validation by a small helper per rule)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a bool")
    try:
        value = float(value)
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        raise ValueError(f"{name} must be finite, got an int of {len(str(value))} digits") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive(name: str, value: float) -> float:
    value = _finite(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    requests = _positive("requests_per_day", requests_per_day)
    ratio = _finite("peak_to_mean", peak_to_mean)
    if ratio < 1:
        raise ValueError(f"peak_to_mean must be >= 1, got {ratio}")
    return _in_float_range("peak_qps", requests / SECONDS_PER_DAY * ratio)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    target = _positive("p99_target_ms", p99_target_ms)
    hops = [_finite("hop", hop) for hop in other_hops_ms]
    if any(hop < 0 for hop in hops):
        raise ValueError("every hop must be >= 0 ms")
    budget = target - sum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops spend the whole {target} ms target")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    n = _finite("workers", workers)
    if n < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    latency = _positive("mean_latency_ms", mean_latency_ms)
    return _in_float_range("replica_qps", n * 1000.0 / latency)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak = _positive("peak_qps", peak_qps)
    per_replica = _positive("qps_per_replica", qps_per_replica)
    spare = _finite("headroom", headroom)
    if not 0 <= spare < 1:
        raise ValueError(f"headroom must be in [0, 1), got {spare}")
    floor = _finite("min_replicas", min_replicas)
    if floor < 1:
        raise ValueError(f"min_replicas must be >= 1, got {min_replicas}")
    needed = math.ceil(_in_float_range("replicas_needed", peak / (per_replica * (1 - spare))))
    return int(max(math.ceil(floor), needed))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v.item() if hasattr(v, "item") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    if all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication)):
        if min(events_per_day, bytes_per_event, retention_days, replication) < 1:
            raise ValueError("every storage input must be > 0")
        return events_per_day * bytes_per_event * retention_days * replication  # exact however large
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        _positive(name, value)
    # multiply the inputs as given (not their float copies): whole numbers stay exact past 2**53
    _finite("storage", events_per_day * bytes_per_event * retention_days * replication)  # 1e200 * 1e200 is inf
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
