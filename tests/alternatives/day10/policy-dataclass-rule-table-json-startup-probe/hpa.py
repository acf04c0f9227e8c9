"""HPA replica rule, expressed as a small policy object."""
from __future__ import annotations

import math

import operator
from dataclasses import dataclass


@dataclass(frozen=True)
class _Autoscaler:
    low: int
    high: int
    tolerance: float

    _CHECKS = ()

    def decide(self, current: int, value: float, target: float) -> int:
        ratio = float(value) / float(target)
        if not math.isfinite(current * ratio):  # an infinite metric, or a ratio too large for a float
            raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
        wanted = current
        if not abs(ratio - 1) <= self.tolerance:
            raw = current * ratio
            whole = int(raw)
            wanted = whole if whole == raw else whole + 1
        return int(sorted((self.low, wanted, self.high))[1])


_RULES = [
    ("current_replicas", 0, operator.lt, 1),
    ("current_value", 1, operator.lt, 0),
    ("target_value", 2, operator.le, 0),
    ("min_replicas", 3, operator.lt, 1),
    ("tolerance", 5, operator.lt, 0),
]


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = (current_replicas, current_value, target_value, min_replicas, max_replicas, tolerance)
    for name, index, bad, limit in _RULES:
        if bad(args[index], limit):
            raise ValueError(f"{name} is {args[index]!r}")
    if tolerance != tolerance:  # NaN: every comparison with it is false, so the rule above lets it through
        raise ValueError(f"tolerance is {tolerance!r}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas {max_replicas} is below min_replicas {min_replicas}")
    return _Autoscaler(min_replicas, max_replicas, tolerance).decide(current_replicas, current_value, target_value)
