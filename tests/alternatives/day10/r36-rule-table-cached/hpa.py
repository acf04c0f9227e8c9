"""HPA replica rule, written as a table of argument checks and a small memoised core."""

from __future__ import annotations

import math
from functools import lru_cache

# (argument name, test that the value is acceptable, what it must be)
_CHECKS = (
    ("current_replicas", lambda a: a["current_replicas"] >= 1, "at least 1"),
    ("current_value", lambda a: not math.isnan(a["current_value"]) and a["current_value"] >= 0,
     "a number, not below 0"),
    ("target_value", lambda a: not math.isnan(a["target_value"]) and a["target_value"] > 0,
     "a number above 0"),
    ("min_replicas", lambda a: a["min_replicas"] >= 1, "at least 1"),
    ("max_replicas", lambda a: a["max_replicas"] >= a["min_replicas"], "at least min_replicas"),
    ("tolerance", lambda a: a["tolerance"] >= 0, "not negative"),
)


def _round_up(x) -> int:
    whole = int(x)
    return whole + 1 if x > whole else whole


@lru_cache(maxsize=512, typed=True)
def _unclamped(current_replicas, current_value, target_value, tolerance):
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    if abs(ratio - 1) > tolerance:
        return _round_up(current_replicas * ratio)
    return current_replicas


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = dict(current_replicas=current_replicas, current_value=current_value, target_value=target_value,
                min_replicas=min_replicas, max_replicas=max_replicas, tolerance=tolerance)
    for name, ok, wanted in _CHECKS:
        if not ok(args):
            raise ValueError(f"{name} must be {wanted}, got {args[name]!r}")
    want = _unclamped(int(current_replicas), current_value, target_value, tolerance)
    if want < min_replicas:
        return int(min_replicas)
    if want > max_replicas:
        return int(max_replicas)
    return want
