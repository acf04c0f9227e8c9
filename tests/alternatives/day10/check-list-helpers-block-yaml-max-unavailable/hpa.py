"""The HorizontalPodAutoscaler's replica rule."""

from __future__ import annotations

import math


def _check(current_replicas, current_value, target_value, min_replicas, max_replicas, tolerance):
    problems = [
        ("current_replicas", current_replicas < 1),
        ("current_value", current_value < 0),
        ("target_value", target_value <= 0),
        ("min_replicas", min_replicas < 1),
        ("max_replicas", max_replicas < min_replicas),
        ("tolerance", not tolerance >= 0),
    ]
    bad = [name for name, wrong in problems if wrong]
    if bad:
        raise ValueError(f"invalid argument(s): {', '.join(bad)}")


def _unclamped(current_replicas: int, ratio: float, tolerance: float) -> int:
    if abs(ratio - 1) <= tolerance:
        return current_replicas
    return math.ceil(current_replicas * ratio)


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    _check(current_replicas, current_value, target_value, min_replicas, max_replicas, tolerance)
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    wanted = _unclamped(current_replicas, ratio, tolerance)
    return int(max(min_replicas, min(max_replicas, wanted)))
