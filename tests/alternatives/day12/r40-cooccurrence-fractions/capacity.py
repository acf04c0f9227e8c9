"""Back-of-envelope capacity planning (style B: exact rational arithmetic with Fraction).

Every input becomes an exact Fraction of the number it holds; results are converted to
float (rates, budgets) or rounded up to int (replicas, bytes) only at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400


class _Input:
    """Turns one argument into an exact Fraction, refusing what is not a finite number."""

    def __init__(self, name: str, value, *, float_sized: bool = True) -> None:
        self.name = name
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name}: a bool is not a number")
        if isinstance(value, (int, np.integer)):
            self.exact = Fraction(int(value))
            self.whole = True
            if float_sized:
                try:
                    float(int(value))
                except OverflowError:
                    raise ValueError(f"{name} is too large for any float") from None
        elif isinstance(value, (float, np.floating)):
            as_float = float(value)
            if not math.isfinite(as_float):
                raise ValueError(f"{name} must be finite, got {value!r}")
            self.exact = Fraction(as_float)
            self.whole = False
        else:
            raise ValueError(f"{name} must be a number, got {value!r}")

    def positive(self) -> Fraction:
        if self.exact <= 0:
            raise ValueError(f"{self.name} must be > 0")
        return self.exact

    def at_least(self, low) -> Fraction:
        if self.exact < low:
            raise ValueError(f"{self.name} must be >= {low}")
        return self.exact


def _to_float(value: Fraction, name: str) -> float:
    try:
        result = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float") from None
    if not math.isfinite(result):
        raise ValueError(f"{name} is too large for a float")
    return result


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    requests = _Input("requests_per_day", requests_per_day).positive()
    peak = _Input("peak_to_mean", peak_to_mean).at_least(1)
    return _to_float(requests / SECONDS_PER_DAY * peak, "peak_qps")


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _Input("p99_target_ms", p99_target_ms).positive()
    spent = sum((_Input("hop", hop).at_least(0) for hop in other_hops_ms), Fraction(0))
    left = target - spent
    if left <= 0:
        raise ValueError("the other hops leave nothing for the model")
    return _to_float(left, "latency budget")


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    n = _Input("workers", workers).at_least(1)
    latency = _Input("mean_latency_ms", mean_latency_ms).positive()
    return _to_float(n * 1000 / latency, "replica_qps")


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _Input("peak_qps", peak_qps).positive()
    per = _Input("qps_per_replica", qps_per_replica).positive()
    room = _Input("headroom", headroom).at_least(0)
    if room >= 1:
        raise ValueError("headroom must be < 1")
    floor_input = _Input("min_replicas", min_replicas, float_sized=False)
    floor = math.ceil(floor_input.at_least(1))   # an int; a fractional floor rounds up
    return max(floor, math.ceil(peak / (per * (1 - room))))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    names = ("events_per_day", "bytes_per_event", "retention_days", "replication")
    values = (events_per_day, bytes_per_event, retention_days, replication)
    product = Fraction(1)
    for name, value in zip(names, values):
        product *= _Input(name, value, float_sized=False).positive()
    return math.ceil(product)
