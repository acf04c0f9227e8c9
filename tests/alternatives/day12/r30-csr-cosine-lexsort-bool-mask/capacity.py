"""Back-of-envelope capacity planning."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(*values):
    for value in values:
        try:
            ok = math.isfinite(value)
        except OverflowError:  # an int too large for any float (10**400)
            ok = False
        if not ok:
            raise ValueError(f"{value!r:.40} is not a finite number")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite(requests_per_day, peak_to_mean)
    if not requests_per_day > 0 or not peak_to_mean >= 1:
        raise ValueError("requests_per_day > 0 and peak_to_mean >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    hops = list(other_hops_ms)
    _finite(p99_target_ms, *hops)
    if not p99_target_ms > 0 or any(not hop >= 0 for hop in hops):
        raise ValueError("target > 0 and every hop >= 0")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError("the other hops spend the whole budget")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite(workers, mean_latency_ms)
    if not workers >= 1 or not mean_latency_ms > 0:
        raise ValueError("workers >= 1 and latency > 0")
    return _in_float_range("replica_qps", 1000 / mean_latency_ms * workers)  # divide first: an np.int16 times 1000 wraps round


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    _finite(peak_qps, qps_per_replica, headroom, min_replicas)
    if not peak_qps > 0 or not qps_per_replica > 0 or not 0 <= headroom < 1 or not min_replicas >= 1:
        raise ValueError("bad capacity inputs")
    usable = float(qps_per_replica) * (1 - float(headroom))  # as Python floats, whatever numpy type came in
    needed = math.ceil(_in_float_range("replicas_needed", float(peak_qps) / usable))
    return max(math.ceil(min_replicas), needed)


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else float(v) if hasattr(v, "dtype") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    args = (events_per_day, bytes_per_event, retention_days, replication)
    if not all(type(value) is int for value in args):  # plain ints are exact however large
        _finite(*args)  # next to a float, an int too large for one is refused like infinity
    if any(not value > 0 for value in args):
        raise ValueError("every input must be > 0")
    if not all(type(value) is int for value in args):  # finite floats can still multiply to inf (1e200 * 1e200)
        _finite(math.prod(args))
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
