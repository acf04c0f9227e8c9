"""Capacity planning (style A: one validating helper, Fraction for exact storage)."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from numbers import Integral

SECONDS_PER_DAY = 86_400


def _finite(x, name, exact=False):
    if isinstance(x, Integral):
        x = int(x)
        if not exact:
            try:
                float(x)
            except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
                raise ValueError(f"{name} must be finite") from None
        return x
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite")
    return x


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day, peak_to_mean=3.0):
    _no_text(requests_per_day, peak_to_mean)
    r = _finite(requests_per_day, "requests_per_day")
    p = _finite(peak_to_mean, "peak_to_mean")
    if not r > 0 or not p >= 1:
        raise ValueError("requests_per_day > 0 and peak_to_mean >= 1")
    return _in_float_range("peak_qps", r / SECONDS_PER_DAY * p)


def latency_budget_ms(p99_target_ms, other_hops_ms):
    _no_text(p99_target_ms, *other_hops_ms)
    t = _finite(p99_target_ms, "p99_target_ms")
    if not t > 0:
        raise ValueError("target must be > 0")
    hops = [_finite(h, "hop") for h in other_hops_ms]
    if any(not h >= 0 for h in hops):
        raise ValueError("hops must be >= 0")
    budget = t - sum(hops)
    if not budget > 0:
        raise ValueError("the other hops spend the whole budget")
    return budget


def replica_qps(workers, mean_latency_ms):
    _no_text(workers, mean_latency_ms)
    w = _finite(workers, "workers")
    lat = _finite(mean_latency_ms, "mean_latency_ms")
    if not w >= 1 or not lat > 0:
        raise ValueError("workers >= 1 and latency > 0")
    return _in_float_range("replica_qps", w * 1000 / lat)


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak = _finite(peak_qps, "peak_qps")
    per = _finite(qps_per_replica, "qps_per_replica")
    h = _finite(headroom, "headroom")
    floor = _finite(min_replicas, "min_replicas")
    if not (peak > 0 and per > 0 and 0 <= h < 1 and floor >= 1):
        raise ValueError("bad capacity inputs")
    return max(math.ceil(floor), math.ceil(_in_float_range("replicas_needed", peak / (per * (1 - h)))))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    total = Fraction(1)
    for name, x in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                    ("retention_days", retention_days), ("replication", replication)):
        v = _finite(x, name, exact=True)  # a Fraction holds any int exactly
        if not v > 0:
            raise ValueError(f"{name} must be > 0")
        total *= Fraction(v)
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
