"""The HPA replica rule, written as a validation table and a pipeline of small steps."""

from __future__ import annotations

import math

_CHECKS = (
    (lambda a: a["current_replicas"] < 1, "current_replicas must be at least 1"),
    (lambda a: a["current_value"] < 0, "current_value cannot be negative"),
    (lambda a: a["target_value"] <= 0, "target_value must be positive"),
    (lambda a: a["min_replicas"] < 1, "min_replicas must be at least 1"),
    (lambda a: a["max_replicas"] < a["min_replicas"], "max_replicas must be >= min_replicas"),
    (lambda a: a["tolerance"] < 0 or a["tolerance"] != a["tolerance"], "tolerance cannot be negative or NaN"),
)


def _round_up(x: float) -> int:
    return int(-(-x // 1))


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = dict(current_replicas=current_replicas, current_value=current_value,
                target_value=target_value, min_replicas=min_replicas,
                max_replicas=max_replicas, tolerance=tolerance)
    for broken, message in _CHECKS:
        if broken(args):
            raise ValueError(message)
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    in_band = abs(ratio - 1) <= tolerance
    wanted = current_replicas if in_band else _round_up(current_replicas * ratio)
    return int(sorted((min_replicas, wanted, max_replicas))[1])
