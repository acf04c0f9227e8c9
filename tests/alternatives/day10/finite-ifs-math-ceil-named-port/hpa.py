"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it."""

from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # every number is the float it becomes, for the checks too (Decimal("1e-400") is 0.0)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is too large for a float") from None
    for name, value in (("current_value", current_value), ("target_value", target_value)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if math.isnan(tolerance):
        raise ValueError("tolerance must be a number, got nan")
    if current_replicas < 1:
        raise ValueError(f"current_replicas must be at least 1, got {current_replicas}")
    if current_value < 0:
        raise ValueError(f"current_value must not be negative, got {current_value}")
    if target_value <= 0:
        raise ValueError(f"target_value must be above 0, got {target_value}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be at least 1, got {min_replicas}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas {max_replicas} is below min_replicas {min_replicas}")
    if tolerance < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance}")
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    if abs(ratio - 1) <= tolerance:
        desired = current_replicas
    else:
        desired = math.ceil(current_replicas * ratio)
    return int(max(min_replicas, min(max_replicas, desired)))
