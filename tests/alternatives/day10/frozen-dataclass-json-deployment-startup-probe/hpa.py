"""HPA replica rule, written as a small value object that validates itself."""

from __future__ import annotations

import math

from dataclasses import dataclass
from math import ceil


@dataclass(frozen=True)
class _Scaling:
    current_replicas: int
    current_value: float
    target_value: float
    min_replicas: int
    max_replicas: int
    tolerance: float

    _RULES = (
        ("current_replicas", lambda s: s.current_replicas >= 1, "at least 1"),
        ("current_value", lambda s: s.current_value >= 0, "not negative"),
        ("target_value", lambda s: s.target_value > 0, "above zero"),
        ("min_replicas", lambda s: s.min_replicas >= 1, "at least 1"),
        ("max_replicas", lambda s: s.max_replicas >= s.min_replicas, "at least min_replicas"),
        ("tolerance", lambda s: s.tolerance >= 0, "not negative"),
    )

    def __post_init__(self):
        for name, ok, wanted in self._RULES:
            if not ok(self):
                raise ValueError(f"{name} must be {wanted}, got {getattr(self, name)!r}")

    def unclamped(self) -> int:
        ratio = float(self.current_value) / float(self.target_value)
        if not math.isfinite(self.current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
            raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
        if not abs(ratio - 1) > self.tolerance:
            return self.current_replicas
        return ceil(self.current_replicas * ratio)

    def answer(self) -> int:
        return int(sorted((self.min_replicas, self.unclamped(), self.max_replicas))[1])


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    return _Scaling(current_replicas, current_value, target_value, min_replicas, max_replicas,
                    tolerance).answer()
