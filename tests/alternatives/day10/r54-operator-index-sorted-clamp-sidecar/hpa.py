"""The HorizontalPodAutoscaler's replica rule, table-driven validation."""

from __future__ import annotations

import math
import operator


def _as_float(x) -> float:
    """Python's 64-bit float of any real number; a whole number beyond any float is an infinity of its sign."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _checks(count, value, target, low, high, tol):
    # (is it wrong?, what to say) -- every predicate is written so that NaN counts as wrong
    yield not count >= 1, "current_replicas must be at least 1"
    yield not 0 <= value < math.inf, "current_value must be a finite number >= 0"
    yield not target > 0, "target_value must be above 0"
    yield not low >= 1, "min_replicas must be at least 1"
    yield not high >= low, "max_replicas must not be below min_replicas"
    yield not tol >= 0, "tolerance must be >= 0"


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    count, low, high = (operator.index(n) for n in (current_replicas, min_replicas, max_replicas))
    value, target, tol = (_as_float(x) for x in (current_value, target_value, tolerance))

    problems = [message for wrong, message in _checks(count, value, target, low, high, tol) if wrong]
    if problems:
        raise ValueError("; ".join(problems))

    ratio = value / target
    if not math.isfinite(ratio):
        raise ValueError("the ratio current_value / target_value overflows")

    if abs(ratio - 1) > tol:
        wanted = count * ratio
        if not math.isfinite(wanted):
            raise ValueError("current_replicas * ratio overflows")
        whole = int(wanted // 1)
        count = whole if whole == wanted else whole + 1   # round up
    return sorted((low, count, high))[1]
