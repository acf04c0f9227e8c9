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
    except OverflowError as error:  # a whole number too large for a float
        raise ValueError(f"an argument is too large for a float: {error}") from None
    if current_replicas < 1:
        raise ValueError(f"current_replicas must be >= 1, got {current_replicas}")
    if math.isnan(current_value) or math.isinf(current_value) or current_value < 0:
        raise ValueError(f"current_value must be a finite number >= 0, got {current_value}")
    if math.isnan(target_value) or target_value <= 0:
        raise ValueError(f"target_value must be > 0, got {target_value}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be >= 1, got {min_replicas}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas {max_replicas} is below min_replicas {min_replicas}")
    if math.isnan(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")

    ratio = current_value / target_value
    if math.isinf(ratio):
        raise ValueError("the ratio current_value / target_value overflows")
    if abs(ratio - 1) <= tolerance:
        desired = current_replicas
    else:
        try:
            wanted = current_replicas * ratio
        except OverflowError:  # a count too large to turn into a float
            raise ValueError("current_replicas * ratio is too large for a float") from None
        if math.isinf(wanted):
            raise ValueError("current_replicas * ratio overflows")
        desired = math.ceil(wanted)
    return int(max(min_replicas, min(max_replicas, desired)))
