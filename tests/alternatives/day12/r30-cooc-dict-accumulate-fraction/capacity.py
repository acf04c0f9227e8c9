"""Capacity plan with exact rational arithmetic (fractions.Fraction) and one validator."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

SECONDS_PER_DAY = 86_400
_LARGEST_FLOAT = Fraction(1.7976931348623157e308)  # an int past it (10**400) is a bad input


def _number(name, value, *, low, low_inclusive=False, high=None, any_size=False):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if not any_size and isinstance(value, numbers.Integral) and abs(value) > _LARGEST_FLOAT:
        raise ValueError(f"{name} is too large for a float ({len(str(value))} digits), like infinity")
    ok = value >= low if low_inclusive else value > low
    if high is not None:
        ok = ok and value < high
    if not ok:
        raise ValueError(f"{name}={value!r} is out of range")
    if isinstance(value, numbers.Integral):  # numpy integers as Python ints: never wrapping in their own width
        value = int(value)
    return Fraction(value if isinstance(value, numbers.Rational) else float(value))   # np.float32 is not a float: Fraction() refuses it


def peak_qps(requests_per_day, peak_to_mean=3.0):
    rate = _number("requests_per_day", requests_per_day, low=0)
    ratio = _number("peak_to_mean", peak_to_mean, low=1, low_inclusive=True)
    return float(_in_float_range("peak_qps", rate / SECONDS_PER_DAY * ratio))


def latency_budget_ms(p99_target_ms, other_hops_ms):
    target = _number("p99_target_ms", p99_target_ms, low=0)
    spent = sum((_number("hop", hop, low=0, low_inclusive=True) for hop in other_hops_ms), Fraction(0))
    if target - spent <= 0:
        raise ValueError("no budget left for the model")
    return float(target - spent)


def replica_qps(workers, mean_latency_ms):
    n = _number("workers", workers, low=1, low_inclusive=True)
    latency = _number("mean_latency_ms", mean_latency_ms, low=0)
    return float(_in_float_range("replica_qps", n * 1000 / latency))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    peak = _number("peak_qps", peak_qps, low=0)
    per = _number("qps_per_replica", qps_per_replica, low=0)
    spare = _number("headroom", headroom, low=0, low_inclusive=True, high=1)
    floor = _number("min_replicas", min_replicas, low=1, low_inclusive=True)
    return int(max(math.ceil(floor), math.ceil(peak / (per * (1 - spare)))))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    total = Fraction(1)
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        total *= _number(name, value, low=0, any_size=True)  # an exact Fraction however large
    return int(math.ceil(total))


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
