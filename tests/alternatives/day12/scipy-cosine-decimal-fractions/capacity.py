from __future__ import annotations

import math
import numbers
from fractions import Fraction
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(*values):
    for v in values:
        try:
            float(v)
        except OverflowError:  # an int too large for any float (10**400)
            raise ValueError(f"an int of {len(str(v))} digits is not finite") from None
        if not math.isfinite(v):
            raise ValueError(f"{v!r} is not finite")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite(requests_per_day, peak_to_mean)
    if not requests_per_day > 0 or not peak_to_mean >= 1:
        raise ValueError("bad input")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    hops = list(other_hops_ms)
    _finite(p99_target_ms, *hops)
    if not p99_target_ms > 0 or any(not h >= 0 for h in hops):
        raise ValueError("bad input")
    left = p99_target_ms - math.fsum(hops)
    if not left > 0:
        raise ValueError("budget spent")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite(workers, mean_latency_ms)
    if not workers >= 1 or workers != int(workers) or not mean_latency_ms > 0:
        raise ValueError("bad input")
    return _in_float_range("replica_qps", int(workers) * 1000 / mean_latency_ms)  # a Python int: an np.int16 never wraps


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    peak_qps, qps_per_replica, headroom = (float(v) if hasattr(v, "dtype") else v for v in (peak_qps, qps_per_replica, headroom))
    _finite(peak_qps, qps_per_replica, headroom, min_replicas)
    if not peak_qps > 0 or not qps_per_replica > 0 or not 0 <= headroom < 1 or not min_replicas >= 1:
        raise ValueError("bad input")
    floor = math.ceil(min_replicas)
    return int(max(floor, math.ceil(_in_float_range("replicas_needed", peak_qps / (qps_per_replica * (1 - headroom))))))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    if not all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication)):
        _finite(events_per_day, bytes_per_event, retention_days, replication)  # whole numbers are exact however large
    if not (events_per_day > 0 and bytes_per_event > 0 and retention_days > 0 and replication > 0):
        raise ValueError("bad input")
    # exact decimal arithmetic on the numbers as written (repr), so 10 x 0.1 bytes is exactly 1
    total = Fraction(1)
    for v in (events_per_day, bytes_per_event, retention_days, replication):
        total *= Fraction(v) if isinstance(v, numbers.Rational) else Fraction(repr(float(v)))
    return math.ceil(total)


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
