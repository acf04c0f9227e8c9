"""The HorizontalPodAutoscaler's replica rule, as a small policy object."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.1


@dataclass(frozen=True)
class ScalingPolicy:
    min_replicas: int
    max_replicas: int
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        problems = [
            (self.min_replicas < 1, "min_replicas below 1"),
            (self.max_replicas < self.min_replicas, "max_replicas below min_replicas"),
            (math.isnan(self.tolerance) or self.tolerance < 0, "negative or NaN tolerance"),
        ]
        for bad, why in problems:
            if bad:
                raise ValueError(why)

    def in_band(self, ratio: float) -> bool:
        return math.isclose(ratio, 1.0, rel_tol=0.0, abs_tol=self.tolerance)

    def clamp(self, count: int) -> int:
        return int(sorted((self.min_replicas, count, self.max_replicas))[1])

    def decide(self, current_replicas: int, current_value: float, target_value: float) -> int:
        for bad, why in ((current_replicas < 1, "current_replicas below 1"),
                         (current_value < 0, "negative current_value"),
                         (target_value <= 0, "target_value not positive")):
            if bad:
                raise ValueError(why)
        ratio = float(current_value) / float(target_value)
        wanted = current_replicas if self.in_band(ratio) else int(-(-(current_replicas * ratio) // 1))
        return self.clamp(wanted)


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = DEFAULT_TOLERANCE) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    policy = ScalingPolicy(min_replicas, max_replicas, tolerance)
    return policy.decide(current_replicas, current_value, target_value)
