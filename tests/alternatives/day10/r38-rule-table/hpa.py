"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it.

Written as a table of argument rules checked up front, then the rule as one pipeline
of small steps (ratio -> band -> round up -> clamp).
"""

from __future__ import annotations

import math

import operator

_RULES = (
    ("current_replicas", lambda a: a["current_replicas"] >= 1, "must be at least 1"),
    ("current_value", lambda a: a["current_value"] >= 0, "must be a number, at least 0"),
    ("target_value", lambda a: a["target_value"] > 0, "must be a number above 0"),
    ("min_replicas", lambda a: a["min_replicas"] >= 1, "must be at least 1"),
    ("max_replicas", lambda a: a["max_replicas"] >= a["min_replicas"], "must not be below min_replicas"),
    ("tolerance", lambda a: a["tolerance"] >= 0, "must not be negative"),
)


def _round_up(x: float) -> int:
    return int(-(-x // 1))


def _clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    try:
        args = {
            "current_replicas": operator.index(current_replicas),
            "current_value": float(current_value),
            "target_value": float(target_value),
            "min_replicas": operator.index(min_replicas),
            "max_replicas": operator.index(max_replicas),
            "tolerance": float(tolerance),
        }
    except OverflowError:
        raise ValueError("a value is a number too large for a float") from None
    broken = [f"{name} {why} (got {args[name]!r})" for name, ok, why in _RULES if not ok(args)]
    if broken:  # comparisons with NaN are all False, so a NaN metric lands here too
        raise ValueError("; ".join(broken))

    ratio = args["current_value"] / args["target_value"]
    if not math.isfinite(args["current_replicas"] * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    count = args["current_replicas"]
    if not abs(ratio - 1) <= args["tolerance"]:
        count = _round_up(count * ratio)
    return int(_clamp(count, args["min_replicas"], args["max_replicas"]))
