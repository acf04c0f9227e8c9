"""Exact arithmetic with fractions.Fraction, converted back to float or int at the end."""
from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400
LARGEST = Fraction(sys.float_info.max)   # beyond it (10**400) a number is a bad input, like infinity


def _exact(x, any_size=False) -> Fraction:
    try:
        f = Fraction(x)
    except (OverflowError, ValueError, TypeError) as err:   # NaN, infinity, not a number
        raise ValueError(f"not a finite number: {x!r}") from err
    if not any_size and abs(f) > LARGEST:
        raise ValueError(f"not a finite number: an int of {len(str(x))} digits")
    return Fraction(int(f.numerator), int(f.denominator))   # plain ints, even from numpy scalars


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    r, p = _exact(requests_per_day), _exact(peak_to_mean)
    if r <= 0 or p < 1:
        raise ValueError("requests_per_day > 0 and peak_to_mean >= 1")
    return float(_in_float_range("peak_qps", r / SECONDS_PER_DAY * p))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    target = _exact(p99_target_ms)
    hops = [_exact(h) for h in other_hops_ms]
    if target <= 0 or any(h < 0 for h in hops):
        raise ValueError("target > 0 and hops >= 0")
    left = target - sum(hops, Fraction(0))
    if left <= 0:
        raise ValueError("the other hops spend the whole budget")
    return float(left)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    w, lat = _exact(workers), _exact(mean_latency_ms)
    if w < 1 or lat <= 0:
        raise ValueError("workers >= 1 and latency > 0")
    return float(_in_float_range("replica_qps", w * 1000 / lat))


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak, per, room, floor = (_exact(v) for v in (peak_qps, qps_per_replica, headroom, min_replicas))
    if peak <= 0 or per <= 0 or not 0 <= room < 1 or floor < 1:
        raise ValueError("bad capacity input")
    return max(math.ceil(floor), math.ceil(peak / (per * (1 - room))))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    parts = [_exact(v, any_size=True) for v in (events_per_day, bytes_per_event, retention_days, replication)]
    if any(p <= 0 for p in parts):
        raise ValueError("every input must be > 0")
    return math.ceil(math.prod(parts))


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
