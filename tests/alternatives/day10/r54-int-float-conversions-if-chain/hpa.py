"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it."""

from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    current = int(current_replicas)
    low = int(min_replicas)
    high = int(max_replicas)
    try:
        value = float(current_value)
        target = float(target_value)
    except OverflowError as error:  # a whole number beyond any float, such as 10**400
        raise ValueError(f"a metric or target too large for a float: {error}") from error
    try:
        tol = float(tolerance)
    except OverflowError:  # a huge whole-number tolerance takes in every ratio; a huge negative one is invalid
        tol = math.inf if tolerance > 0 else -math.inf

    if current < 1:
        raise ValueError(f"current_replicas must be >= 1, got {current_replicas!r}")
    if math.isnan(value) or value < 0 or math.isinf(value):
        raise ValueError(f"current_value must be a finite number >= 0, got {current_value!r}")
    if math.isnan(target) or target <= 0:
        raise ValueError(f"target_value must be > 0, got {target_value!r}")
    if low < 1:
        raise ValueError(f"min_replicas must be >= 1, got {min_replicas!r}")
    if high < low:
        raise ValueError(f"max_replicas ({max_replicas!r}) must be >= min_replicas ({min_replicas!r})")
    if math.isnan(tol) or tol < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")

    ratio = value / target
    if math.isinf(ratio):
        raise ValueError(f"ratio {current_value!r} / {target_value!r} is too large")

    if abs(ratio - 1) <= tol:
        desired = current
    else:
        wanted = current * ratio
        if math.isinf(wanted):
            raise ValueError(f"{current} * {ratio!r} replicas is too large")
        desired = math.ceil(wanted)
    return max(low, min(high, desired))
