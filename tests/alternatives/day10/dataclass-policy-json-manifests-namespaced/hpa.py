"""The HPA replica rule, written as a small immutable policy object."""

from __future__ import annotations

import math

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingPolicy:
    min_replicas: int
    max_replicas: int
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        problems = [
            (self.min_replicas < 1, "min_replicas below 1"),
            (self.max_replicas < self.min_replicas, "max_replicas below min_replicas"),
            (not self.tolerance >= 0, "negative or NaN tolerance"),
        ]
        for broken, why in problems:
            if broken:
                raise ValueError(why)

    def clamp(self, count: int) -> int:
        if count < self.min_replicas:
            return self.min_replicas
        if count > self.max_replicas:
            return self.max_replicas
        return count

    def decide(self, current_replicas: int, current_value: float, target_value: float) -> int:
        if current_replicas < 1:
            raise ValueError("current_replicas below 1")
        if current_value < 0:
            raise ValueError("negative current_value")
        if not target_value > 0:
            raise ValueError("target_value must be above 0")
        ratio = float(current_value) / float(target_value)
        if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
            raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
        in_band = abs(ratio - 1) <= self.tolerance
        wanted = current_replicas if in_band else _round_up(current_replicas * ratio)
        return int(self.clamp(wanted))


def _round_up(x: float) -> int:
    whole = int(x)  # truncates towards zero; x is never negative here
    return whole + 1 if whole < x else whole


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    policy = ScalingPolicy(min_replicas, max_replicas, tolerance)
    return policy.decide(current_replicas, current_value, target_value)
