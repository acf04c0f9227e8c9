"""Capacity planning with exact rational arithmetic and a small validator object."""

from __future__ import annotations

import math
import numbers
import sys
from fractions import Fraction

SECONDS_PER_DAY = 86_400
_FLOAT_MAX = int(sys.float_info.max)  # past it an int (10**400) is a bad input, like infinity


class _Check:
    def __init__(self, name, value, *, any_size=False):
        self.name, self.value = name, value
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise ValueError(f"{name} must be a number")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name} must be finite")
        if not any_size and isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            raise ValueError(f"{name} must fit in a float, got an int of {len(str(value))} digits")

    def above(self, bound):
        if self.value <= bound:
            raise ValueError(f"{self.name} must be > {bound}")
        return self

    def at_least(self, bound):
        if self.value < bound:
            raise ValueError(f"{self.name} must be >= {bound}")
        return self

    def below(self, bound):
        if self.value >= bound:
            raise ValueError(f"{self.name} must be < {bound}")
        return self


def peak_qps(requests_per_day, peak_to_mean=3.0):
    _Check("requests_per_day", requests_per_day).above(0)
    _Check("peak_to_mean", peak_to_mean).at_least(1)
    return _in_float_range("peak_qps", float(requests_per_day) / SECONDS_PER_DAY * float(peak_to_mean))


def latency_budget_ms(p99_target_ms, other_hops_ms):
    _Check("p99_target_ms", p99_target_ms).above(0)
    spent = 0.0
    for i, hop in enumerate(other_hops_ms):
        _Check(f"hop {i}", hop).at_least(0)
        spent += hop
    left = p99_target_ms - spent
    if left <= 0:
        raise ValueError("no latency left for the model")
    return left


def replica_qps(workers, mean_latency_ms):
    _Check("workers", workers).at_least(1)
    _Check("mean_latency_ms", mean_latency_ms).above(0)
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _Check("peak_qps", peak_qps).above(0)
    _Check("qps_per_replica", qps_per_replica).above(0)
    _Check("headroom", headroom).at_least(0).below(1)
    _Check("min_replicas", min_replicas).at_least(1)
    if int(min_replicas) != min_replicas:
        raise ValueError("min_replicas must be a whole number")
    usable = float(qps_per_replica) * (1 - float(headroom))
    return max(int(min_replicas), math.ceil(_in_float_range("replicas_needed", float(peak_qps) / usable)))  # float64, never a np.float32's float32


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    total = Fraction(1)
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        _Check(name, value, any_size=type(value) is int).above(0)  # a plain int is an exact Fraction however large
        total *= Fraction(value if isinstance(value, numbers.Rational) else float(value))   # np.float32 is not a float: Fraction() refuses it
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
