"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it.

Written as a small immutable policy object: the bounds and tolerance are validated once
in __post_init__, and `decide()` validates the metric sample; the module function wraps it.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass


def _count(name: str, value) -> int:
    try:
        return operator.index(value)          # int, bool, numpy integers; keeps big ints exact
    except TypeError:
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}") from None
        return int(number)


def _real(name: str, value) -> float:
    try:
        number = float(value)                 # numpy.float32 -> Python 64-bit float
    except OverflowError:
        raise ValueError(f"{name} is too large for a float") from None
    if number != number:
        raise ValueError(f"{name} is NaN")
    return number


@dataclass(frozen=True)
class ScalingPolicy:
    min_replicas: int
    max_replicas: int
    tolerance: float = 0.1

    def __post_init__(self):
        low = _count("min_replicas", self.min_replicas)
        high = _count("max_replicas", self.max_replicas)
        tol = _real("tolerance", self.tolerance)
        if low < 1:
            raise ValueError(f"min_replicas must be at least 1, got {low}")
        if high < low:
            raise ValueError(f"max_replicas {high} is below min_replicas {low}")
        if tol < 0:
            raise ValueError(f"tolerance must not be negative, got {tol}")
        object.__setattr__(self, "min_replicas", low)
        object.__setattr__(self, "max_replicas", high)
        object.__setattr__(self, "tolerance", tol)

    def _clamp(self, count: int) -> int:
        return sorted((self.min_replicas, count, self.max_replicas))[1]

    def decide(self, current_replicas, current_value, target_value) -> int:
        current = _count("current_replicas", current_replicas)
        value = _real("current_value", current_value)
        target = _real("target_value", target_value)
        if current < 1:
            raise ValueError(f"current_replicas must be at least 1, got {current}")
        if value < 0:
            raise ValueError(f"current_value must not be negative, got {value}")
        if target <= 0:
            raise ValueError(f"target_value must be positive, got {target}")
        ratio = value / target
        if not math.isfinite(current * ratio):  # an infinite metric, or a ratio too large for a float
            raise ValueError(f"current_value {value} against target_value {target} overflows")
        within_band = abs(ratio - 1) <= self.tolerance
        wanted = current if within_band else math.ceil(current * ratio)
        return self._clamp(wanted)


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    policy = ScalingPolicy(min_replicas, max_replicas, tolerance)
    return policy.decide(current_replicas, current_value, target_value)
