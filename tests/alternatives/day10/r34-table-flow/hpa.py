"""The HPA replica rule: a table of argument checks, then one expression per step."""

from __future__ import annotations

import math
from typing import Callable

# (argument, why it is impossible) -> a predicate that is True when the argument is impossible.
_IMPOSSIBLE: tuple[tuple[str, str, Callable[[dict], bool]], ...] = (
    ("current_replicas", "below 1", lambda a: not a["current_replicas"] >= 1),
    ("current_value", "negative or NaN", lambda a: not a["current_value"] >= 0),
    ("target_value", "not above 0 or NaN", lambda a: not a["target_value"] > 0),
    ("min_replicas", "below 1", lambda a: not a["min_replicas"] >= 1),
    ("max_replicas", "below min_replicas", lambda a: not a["max_replicas"] >= a["min_replicas"]),
    ("tolerance", "negative or NaN", lambda a: not a["tolerance"] >= 0),
)


def _round_up(x: float) -> int:
    return int(-(-x // 1))


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    try:  # 64-bit floats first: a Decimal NaN then compares as a float NaN (no InvalidOperation)
        current_value, target_value, tolerance = float(current_value), float(target_value), float(tolerance)
    except OverflowError:  # a whole number or Fraction past 1e308
        raise ValueError("a value is a number too large for a float") from None
    args = dict(current_replicas=current_replicas, current_value=current_value, target_value=target_value,
                min_replicas=min_replicas, max_replicas=max_replicas, tolerance=tolerance)
    wrong = [f"{name} is {why} ({args[name]!r})" for name, why, bad in _IMPOSSIBLE if bad(args)]
    if wrong:
        raise ValueError("; ".join(wrong))

    ratio = float(current_value) / float(target_value)
    in_band = math.isclose(ratio, 1.0, rel_tol=0.0, abs_tol=tolerance)
    wanted = current_replicas if in_band else _round_up(current_replicas * ratio)
    return int(sorted((min_replicas, wanted, max_replicas))[1])
