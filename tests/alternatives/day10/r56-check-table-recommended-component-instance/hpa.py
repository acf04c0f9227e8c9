"""HPA replica rule, table-driven validation."""
from __future__ import annotations

import math
import operator


def _as_float(name, value):
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name}={value!r} does not fit a float") from None
    if math.isnan(number):
        raise ValueError(f"{name} is NaN")
    return number


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    count, low, high = (operator.index(n) for n in (current_replicas, min_replicas, max_replicas))
    count, low, high = int(count), int(low), int(high)
    load = _as_float("current_value", current_value)
    target = _as_float("target_value", target_value)
    tol = _as_float("tolerance", tolerance)
    checks = (
        (count < 1, "current_replicas < 1"),
        (load < 0 or current_value < 0, "current_value < 0"),
        (math.isinf(load), "current_value is infinite"),
        (target <= 0, "target_value <= 0"),
        (low < 1, "min_replicas < 1"),
        (high < low, "max_replicas < min_replicas"),
        (tol < 0 or tolerance < 0, "tolerance < 0"),
    )
    for failed, message in checks:
        if failed:
            raise ValueError(message)

    ratio = load / target
    if not math.isfinite(ratio):
        raise ValueError("ratio is not finite")
    if abs(ratio - 1) <= tol:
        wanted = count
    else:
        product = count * ratio
        if not math.isfinite(product):
            raise ValueError("replica count is not finite")
        wanted = math.ceil(product)
    if wanted < low:
        return low
    if wanted > high:
        return high
    return wanted
