"""The HPA replica rule: guard clauses first, then the band as the rule's own comparison, clamp by median."""

from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    if current_replicas < 1:
        raise ValueError(f"current_replicas must be at least 1, got {current_replicas!r}")
    if not current_value >= 0:  # also refuses NaN
        raise ValueError(f"current_value must be a number >= 0, got {current_value!r}")
    if not target_value > 0:  # also refuses NaN
        raise ValueError(f"target_value must be a number > 0, got {target_value!r}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be at least 1, got {min_replicas!r}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas {max_replicas!r} is below min_replicas {min_replicas!r}")
    if not tolerance >= 0:  # also refuses NaN
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")

    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    if abs(ratio - 1) <= tolerance:
        wanted = current_replicas
    else:
        wanted = math.ceil(current_replicas * ratio)
    # the median of (low, wanted, high) is wanted clamped to [low, high] when low <= high
    return int(sorted((min_replicas, wanted, max_replicas))[1])
