"""HPA replica rule (style: table-driven validation, helpers, -(-x // 1) ceiling)."""

from __future__ import annotations

import math

_CHECKS = (
    ("current_replicas", lambda a: a["current_replicas"] >= 1, "at least 1"),
    ("current_value", lambda a: a["current_value"] >= 0, "non-negative"),
    ("target_value", lambda a: a["target_value"] > 0, "positive"),
    ("min_replicas", lambda a: a["min_replicas"] >= 1, "at least 1"),
    ("max_replicas", lambda a: a["max_replicas"] >= a["min_replicas"], "at least min_replicas"),
    ("tolerance", lambda a: a["tolerance"] >= 0, "non-negative"),
)


def _validate(**args) -> None:
    for name, ok, what in _CHECKS:
        if not ok(args):
            raise ValueError(f"{name}={args[name]!r} should be {what}")


def _within_band(ratio: float, tolerance: float) -> bool:
    return abs(ratio - 1) <= tolerance


def _clamp(value: int, low: int, high: int) -> int:
    return sorted((low, value, high))[1]


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    _validate(current_replicas=current_replicas, current_value=current_value, target_value=target_value,
              min_replicas=min_replicas, max_replicas=max_replicas, tolerance=tolerance)
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    wanted = current_replicas if _within_band(ratio, tolerance) else int(math.ceil(current_replicas * ratio))
    return int(_clamp(wanted, min_replicas, max_replicas))
