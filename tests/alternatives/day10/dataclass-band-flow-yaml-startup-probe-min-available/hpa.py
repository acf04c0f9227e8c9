"""HPA replica rule, written as a small value object."""

from __future__ import annotations

import math

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingRequest:
    current_replicas: int
    current_value: float
    target_value: float
    min_replicas: int
    max_replicas: int
    tolerance: float

    def __post_init__(self):
        if not self.current_replicas >= 1:
            raise ValueError("current_replicas must be at least 1")
        if not self.current_value >= 0:
            raise ValueError("current_value must not be negative")
        if not self.target_value > 0:
            raise ValueError("target_value must be positive")
        if not self.min_replicas >= 1:
            raise ValueError("min_replicas must be at least 1")
        if not self.max_replicas >= self.min_replicas:
            raise ValueError("max_replicas must not be below min_replicas")
        if not self.tolerance >= 0:
            raise ValueError("tolerance must not be negative")
        if not math.isfinite(self.current_replicas * self.ratio):
            raise ValueError("current_value must be finite, and its ratio to target_value too")

    @property
    def ratio(self) -> float:
        return float(self.current_value) / float(self.target_value)

    def in_band(self) -> bool:
        return abs(self.ratio - 1) <= self.tolerance

    def proposal(self) -> int:
        if self.in_band():
            return self.current_replicas
        wanted = self.current_replicas * self.ratio
        whole = int(wanted)
        return whole if whole == wanted else whole + 1

    def decide(self) -> int:
        proposal = self.proposal()
        if proposal < self.min_replicas:
            return self.min_replicas
        if proposal > self.max_replicas:
            return self.max_replicas
        return proposal


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    return int(ScalingRequest(current_replicas, current_value, target_value,
                              min_replicas, max_replicas, tolerance).decide())
