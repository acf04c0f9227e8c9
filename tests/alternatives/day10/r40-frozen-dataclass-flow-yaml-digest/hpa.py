"""The HorizontalPodAutoscaler's replica rule, as a small immutable value object."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingInput:
    current_replicas: int
    current_value: float
    target_value: float
    min_replicas: int
    max_replicas: int
    tolerance: float = 0.1

    @classmethod
    def of(cls, current_replicas, current_value, target_value, min_replicas, max_replicas, tolerance):
        try:
            return cls(operator.index(current_replicas), float(current_value), float(target_value),
                       operator.index(min_replicas), operator.index(max_replicas), float(tolerance))
        except OverflowError:
            raise ValueError("a value is a number too large for a float") from None

    def __post_init__(self):
        rules = (
            (self.current_replicas >= 1, "current_replicas must be >= 1"),
            (not math.isnan(self.current_value), "current_value is NaN"),
            (not math.isnan(self.target_value), "target_value is NaN"),
            (not math.isnan(self.tolerance), "tolerance is NaN"),
            (self.current_value >= 0, "current_value must be >= 0"),
            (self.target_value > 0, "target_value must be > 0"),
            (self.min_replicas >= 1, "min_replicas must be >= 1"),
            (self.max_replicas >= self.min_replicas, "max_replicas must be >= min_replicas"),
            (self.tolerance >= 0, "tolerance must be >= 0"),
        )
        broken = [message for ok, message in rules if not ok]
        if broken:
            raise ValueError("; ".join(broken))
        if not math.isfinite(self.current_replicas * self.ratio):
            raise ValueError("current_value must be finite, and its ratio to target_value too")

    @property
    def ratio(self) -> float:
        return self.current_value / self.target_value

    def within_band(self) -> bool:
        return abs(self.ratio - 1) <= self.tolerance

    def unclamped(self) -> int:
        if self.within_band():
            return self.current_replicas
        return math.ceil(self.current_replicas * self.ratio)

    def decide(self) -> int:
        return sorted((self.min_replicas, self.unclamped(), self.max_replicas))[1]


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    return int(ScalingInput.of(current_replicas, current_value, target_value,
                               min_replicas, max_replicas, tolerance).decide())
