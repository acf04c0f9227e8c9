"""The HorizontalPodAutoscaler's replica rule: a table of preconditions, then a pipeline."""

from __future__ import annotations

import math


def _round_up(x: float) -> int:
    whole = -(-x // 1)  # floor division of the negation, negated: the ceiling, as a float
    return int(whole)


def _within_band(ratio: float, tolerance: float) -> bool:
    return abs(ratio - 1) <= tolerance


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    preconditions = (
        ("current_replicas", current_replicas >= 1, "at least 1"),
        ("current_value", current_value >= 0, "not negative"),
        ("target_value", target_value > 0, "positive"),
        ("min_replicas", min_replicas >= 1, "at least 1"),
        ("max_replicas", max_replicas >= min_replicas, "at least min_replicas"),
        ("tolerance", tolerance >= 0, "not negative"),
    )
    broken = [f"{name} must be {why}" for name, ok, why in preconditions if not ok]
    if broken:
        raise ValueError("; ".join(broken))

    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    wanted = current_replicas if _within_band(ratio, tolerance) else _round_up(current_replicas * ratio)
    return int(sorted((min_replicas, wanted, max_replicas))[1])
