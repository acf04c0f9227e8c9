"""HPA replica rule, table-driven validation."""

import math
from numbers import Integral


def _real(value, name):
    """A Python float for any real number (int, bool, float, Decimal, Fraction, numpy)."""
    try:
        out = float(value)
    except OverflowError:
        raise ValueError(f"{name}={value!r} does not fit a float")
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number")
    if out != out:  # NaN
        raise ValueError(f"{name} is NaN")
    return out


def desired_replicas(current_replicas, current_value, target_value,
                     min_replicas, max_replicas, tolerance=0.1):
    for name, v in (("current_replicas", current_replicas), ("min_replicas", min_replicas),
                    ("max_replicas", max_replicas)):
        if not isinstance(v, Integral):
            raise ValueError(f"{name}={v!r} must be a whole number")
    cur_r, lo, hi = int(current_replicas), int(min_replicas), int(max_replicas)
    cv = _real(current_value, "current_value")
    tv = _real(target_value, "target_value")
    tol = _real(tolerance, "tolerance")

    problems = [
        (cur_r < 1, "current_replicas < 1"),
        (cv < 0, "current_value < 0"),
        (not math.isfinite(cv), "current_value is infinite"),
        (tv <= 0, "target_value <= 0"),
        (lo < 1, "min_replicas < 1"),
        (hi < lo, "max_replicas < min_replicas"),
        (tol < 0, "tolerance < 0"),
    ]
    for bad, why in problems:
        if bad:
            raise ValueError(why)

    ratio = cv / tv
    if not math.isfinite(ratio):
        raise ValueError(f"ratio {cv} / {tv} overflows")
    if abs(ratio - 1) <= tol:
        desired = cur_r
    else:
        scaled = cur_r * ratio
        if not math.isfinite(scaled):
            raise ValueError("current_replicas * ratio overflows")
        desired = math.ceil(scaled)
    return min(hi, max(lo, desired))
