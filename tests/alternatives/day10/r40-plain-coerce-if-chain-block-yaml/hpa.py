"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it."""

from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    current_replicas = int(current_replicas)
    min_replicas = int(min_replicas)
    max_replicas = int(max_replicas)
    try:
        current_value = float(current_value)
        target_value = float(target_value)
        tolerance = float(tolerance)
    except OverflowError:
        raise ValueError("a value is a number too large for a float") from None
    if math.isnan(current_value):
        raise ValueError("current_value is NaN")
    if math.isnan(target_value):
        raise ValueError("target_value is NaN")
    if math.isnan(tolerance):
        raise ValueError("tolerance is NaN")
    if current_replicas < 1:
        raise ValueError("current_replicas must be at least 1")
    if current_value < 0:
        raise ValueError("current_value must not be negative")
    if target_value <= 0:
        raise ValueError("target_value must be positive")
    if min_replicas < 1:
        raise ValueError("min_replicas must be at least 1")
    if max_replicas < min_replicas:
        raise ValueError("max_replicas must be >= min_replicas")
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    ratio = current_value / target_value
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    if abs(ratio - 1) <= tolerance:
        desired = current_replicas
    else:
        desired = math.ceil(current_replicas * ratio)
    return max(min_replicas, min(max_replicas, desired))
