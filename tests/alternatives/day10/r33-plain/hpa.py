"""HPA replica rule: straight-line checks and math.ceil."""
from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:
        current_value = float(current_value)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("current_value is too large for a float") from None
    target_value = float(target_value)  # a Decimal too small for a float becomes 0.0, which the check below refuses
    tolerance = float(tolerance)
    if current_replicas < 1:
        raise ValueError("current_replicas must be at least 1")
    if math.isnan(current_value) or current_value < 0:
        raise ValueError("current_value must be a number >= 0")
    if math.isnan(target_value) or target_value <= 0:
        raise ValueError("target_value must be a number > 0")
    if min_replicas < 1:
        raise ValueError("min_replicas must be at least 1")
    if max_replicas < min_replicas:
        raise ValueError("max_replicas must be >= min_replicas")
    if math.isnan(tolerance) or tolerance < 0:
        raise ValueError("tolerance must be a number >= 0")
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    if abs(ratio - 1) <= tolerance:
        desired = current_replicas
    else:
        desired = math.ceil(current_replicas * ratio)
    return int(max(min_replicas, min(max_replicas, desired)))
