"""The HPA replica rule, written as a table of argument rules and a floor-division ceiling."""

from __future__ import annotations

import math

_RULES = (
    ("current_replicas", lambda a: a["current_replicas"] < 1, "must be at least 1"),
    ("current_value", lambda a: a["current_value"] < 0, "must not be negative"),
    ("target_value", lambda a: a["target_value"] <= 0, "must be above zero"),
    ("min_replicas", lambda a: a["min_replicas"] < 1, "must be at least 1"),
    ("max_replicas", lambda a: a["max_replicas"] < a["min_replicas"], "must not be below min_replicas"),
    ("tolerance", lambda a: not a["tolerance"] >= 0, "must not be negative or NaN"),
)


def _round_up(x: float) -> int:
    """The smallest whole number >= x, via floor division (x // 1 is the floor of a float)."""
    return int(-(-x // 1))


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = dict(current_replicas=current_replicas, current_value=current_value, target_value=target_value,
                min_replicas=min_replicas, max_replicas=max_replicas, tolerance=tolerance)
    broken = [f"{name} {why} (got {args[name]!r})" for name, bad, why in _RULES if bad(args)]
    if broken:
        raise ValueError("; ".join(broken))
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    within_band = abs(ratio - 1) <= tolerance
    wanted = int(current_replicas) if within_band else _round_up(current_replicas * ratio)
    low_high = (int(min_replicas), int(max_replicas))
    if wanted < low_high[0]:
        return low_high[0]
    if wanted > low_high[1]:
        return low_high[1]
    return wanted
