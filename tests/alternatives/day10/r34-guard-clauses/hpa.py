"""The HPA replica rule, written as a sequence of guard clauses."""

from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    numbers = {}
    for name, value in (("current_value", current_value), ("target_value", target_value), ("tolerance", tolerance)):
        try:
            numbers[name] = float(value)  # the checks, like the arithmetic, judge the float
        except OverflowError:  # a whole number or Fraction past 1e308
            raise ValueError(f"{name} is too large for a float") from None
    current_value, target_value, tolerance = numbers["current_value"], numbers["target_value"], numbers["tolerance"]
    if current_replicas < 1:
        raise ValueError(f"current_replicas must be at least 1, got {current_replicas}")
    if math.isnan(current_value) or current_value < 0:
        raise ValueError(f"current_value must be a number >= 0, got {current_value}")
    if math.isnan(target_value) or target_value <= 0:
        raise ValueError(f"target_value must be a number > 0, got {target_value}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be at least 1, got {min_replicas}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas {max_replicas} is below min_replicas {min_replicas}")
    if math.isnan(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance}")
    # NumPy counts (a numpy.int64 from a DataFrame) become Python ints: the answer is one of them
    current_replicas, min_replicas, max_replicas = int(current_replicas), int(min_replicas), int(max_replicas)

    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    if abs(ratio - 1) <= tolerance:
        desired = current_replicas
    else:
        desired = math.ceil(current_replicas * ratio)
    if desired < min_replicas:
        return min_replicas
    if desired > max_replicas:
        return max_replicas
    return desired
