"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it."""

from __future__ import annotations

import math
import operator

_PRECONDITIONS = (
    ("current_replicas", operator.lt, 1, "at least 1"),
    ("current_value", operator.lt, 0, "not negative"),
    ("target_value", operator.le, 0, "above 0"),
    ("min_replicas", operator.lt, 1, "at least 1"),
    ("tolerance", operator.lt, 0, "not negative"),
)


def _round_up(x: float) -> int:
    whole = int(x // 1)
    return whole if whole == x else whole + 1


def _within_band(ratio: float, tolerance: float) -> bool:
    return not abs(ratio - 1) > tolerance


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:
        current_value, target_value, tolerance = map(float, (current_value, target_value, tolerance))
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is too large for a float") from None
    args = locals()
    broken = [name for name in ("current_value", "target_value") if math.isnan(args[name])
              or math.isinf(args[name])]
    if broken:
        raise ValueError(f"{', '.join(broken)} should be finite numbers (a NaN or infinite metric is no reading)")
    if math.isnan(tolerance):
        raise ValueError("tolerance should be a number, not NaN")
    for name, bad, bound, wanted in _PRECONDITIONS:
        if bad(args[name], bound):
            raise ValueError(f"{name} should be {wanted}, got {args[name]!r}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas ({max_replicas}) should not be below min_replicas ({min_replicas})")

    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    wanted = current_replicas if _within_band(ratio, tolerance) else _round_up(current_replicas * ratio)
    return int(sorted((min_replicas, wanted, max_replicas))[1])
