"""HPA replica rule: a table of argument checks, integer ceiling by floor division."""
from __future__ import annotations

import math

import operator

_CHECKS = (
    # (argument index, name, test that must hold)
    (0, "current_replicas", lambda v, a: v >= 1),
    (1, "current_value", lambda v, a: v == v and v >= 0),
    (2, "target_value", lambda v, a: v == v and v > 0),
    (3, "min_replicas", lambda v, a: v >= 1),
    (4, "max_replicas", lambda v, a: v >= a[3]),
    (5, "tolerance", lambda v, a: v >= 0),
)


def _round_up(x: float) -> int:
    return int(-operator.floordiv(-x, 1))


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = (current_replicas, current_value, target_value, min_replicas, max_replicas, tolerance)
    bad = [name for index, name, ok in _CHECKS if not ok(args[index], args)]
    if bad:
        raise ValueError("invalid argument(s): " + ", ".join(bad))
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    wanted = _round_up(current_replicas * ratio) if abs(ratio - 1) > tolerance else current_replicas
    return int(sorted((min_replicas, wanted, max_replicas))[1])
