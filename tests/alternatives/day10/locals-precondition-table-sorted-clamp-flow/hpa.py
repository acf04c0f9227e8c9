"""The HorizontalPodAutoscaler's replica rule, written as a table of preconditions."""

from __future__ import annotations

import math

import operator

_PRECONDITIONS = (
    ("current_replicas", operator.ge, 1),
    ("current_value", operator.ge, 0),
    ("target_value", operator.gt, 0),
    ("min_replicas", operator.ge, 1),
    ("tolerance", operator.ge, 0),
)


def _round_up(x: float) -> int:
    return int(-(-x // 1))


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = locals()
    for name, ok, bound in _PRECONDITIONS:
        if not ok(args[name], bound):
            raise ValueError(f"{name}={args[name]!r} is out of range")
    if not max_replicas >= min_replicas:
        raise ValueError(f"max_replicas={max_replicas!r} is below min_replicas={min_replicas!r}")

    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    wanted = current_replicas if abs(ratio - 1) <= tolerance else _round_up(current_replicas * ratio)
    return int(sorted((min_replicas, wanted, max_replicas))[1])
