"""HPA replica rule, table-driven validation and a dataclass-free pipeline."""
from __future__ import annotations

import math
import operator

_RULES = (
    ("current_replicas", operator.ge, 1),
    ("current_value", operator.ge, 0),
    ("target_value", operator.gt, 0),
    ("min_replicas", operator.ge, 1),
    ("tolerance", operator.ge, 0),
)


def _clamp(value: int, low: int, high: int) -> int:
    return sorted((low, value, high))[1]


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    given = locals()
    bad = [name for name, op, bound in _RULES if not op(given[name], bound)]
    if not max_replicas >= min_replicas:
        bad.append("max_replicas")
    if bad:
        raise ValueError(f"invalid argument(s): {', '.join(bad)}")
    ratio = float(current_value) / float(target_value)
    if not math.isfinite(current_replicas * ratio):  # an infinite metric, or a ratio too large for a float
        raise ValueError(f"the metric is infinite or its ratio to the target overflows: {ratio!r}")
    scaled = current_replicas if abs(ratio - 1) <= tolerance else -math.floor(-(current_replicas * ratio))
    return int(_clamp(scaled, min_replicas, max_replicas))
