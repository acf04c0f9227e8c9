"""Back-of-envelope capacity planning (plain functions, math module)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(*values) -> None:
    for value in values:
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for any float (10**400)
            finite = False
        if not finite:
            raise ValueError(f"{value!r:.40} is not a finite number")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite(requests_per_day, peak_to_mean)
    if not requests_per_day > 0:
        raise ValueError("requests_per_day must be > 0")
    if not peak_to_mean >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    hops = list(other_hops_ms)
    _finite(p99_target_ms, *hops)
    if not p99_target_ms > 0:
        raise ValueError("target must be > 0")
    if any(not hop >= 0 for hop in hops):
        raise ValueError("hops must be >= 0")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError("the other hops spend the whole budget")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite(workers, mean_latency_ms)
    if not workers >= 1:
        raise ValueError("workers must be >= 1")
    if not mean_latency_ms > 0:
        raise ValueError("latency must be > 0")
    return _in_float_range("replica_qps", 1000 * float(workers) / mean_latency_ms)  # in float: an np.int16 count times 1000 wraps round


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _finite(peak_qps, qps_per_replica, headroom, min_replicas)
    if not peak_qps > 0 or not qps_per_replica > 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= headroom < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not min_replicas >= 1:
        raise ValueError("min_replicas must be >= 1")
    needed = math.ceil(_in_float_range("replicas_needed", float(peak_qps) / float(qps_per_replica * (1 - headroom))))
    return max(math.ceil(min_replicas), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers are whole numbers: as Python ints they neither wrap nor lose digits in a float
    factors = tuple(int(f) if isinstance(f, numbers.Integral) else f
                    for f in (events_per_day, bytes_per_event, retention_days, replication))
    if not all(isinstance(factor, int) for factor in factors):  # whole numbers are exact however large
        _finite(*factors)  # a float, and any int next to it, must be finite
    if any(not factor > 0 for factor in factors):
        raise ValueError("every input must be > 0")
    if all(isinstance(factor, int) for factor in factors):
        return math.prod(factors)
    _finite(math.prod(float(f) for f in factors))  # finite floats can multiply to inf (1e200 * 1e200)
    return math.ceil(math.prod(float(f) for f in factors))


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
