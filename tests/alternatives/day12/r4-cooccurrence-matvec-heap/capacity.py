"""Back-of-envelope capacity planning, in exact rational arithmetic."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _exact(value, any_size: bool = False) -> Fraction:
    """A finite number as an exact fraction; NaN, infinity and non-numbers are bad input.

    An int too large for any float (10**400) is bad input too, unless any_size (exact storage products).
    """
    if hasattr(value, "__index__"):
        value = int(value)  # numpy integers as Python ints: a Fraction of an np.int32 wraps round in its width
    try:
        result = Fraction(value)
        if not any_size:
            float(result)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"not a finite number: {value!r:.40}") from exc
    return result


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    requests, ratio = _exact(requests_per_day), _exact(peak_to_mean)
    if requests <= 0:
        raise ValueError("requests_per_day must be > 0")
    if ratio < 1:
        raise ValueError("peak_to_mean must be >= 1")
    return float(_in_float_range("peak_qps", requests / SECONDS_PER_DAY * ratio))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    target = _exact(p99_target_ms)
    hops = [_exact(hop) for hop in other_hops_ms]
    if target <= 0:
        raise ValueError("the p99 target must be > 0")
    if min(hops, default=0) < 0:
        raise ValueError("a hop cannot take negative time")
    left = target - sum(hops)
    if left <= 0:
        raise ValueError("no latency budget left for the model")
    return float(left)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    n, latency = _exact(workers), _exact(mean_latency_ms)
    if n < 1:
        raise ValueError("workers must be >= 1")
    if latency <= 0:
        raise ValueError("mean latency must be > 0")
    return float(_in_float_range("replica_qps", n * 1000 / latency))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak, per_replica = _exact(peak_qps), _exact(qps_per_replica)
    spare, floor = _exact(headroom), _exact(min_replicas)
    if peak <= 0 or per_replica <= 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= spare < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    return int(max(math.ceil(floor), math.ceil(peak / (per_replica * (1 - spare)))))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    factors = [_exact(x, any_size=True) for x in (events_per_day, bytes_per_event, retention_days, replication)]
    if any(f <= 0 for f in factors):
        raise ValueError("every input must be > 0")
    return math.ceil(math.prod(factors))


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
