"""HPA replica rule."""
from __future__ import annotations

import math


def _num(value, name):
    try:
        if value != value:  # NaN (float or numpy)
            raise ValueError(f"{name} is NaN")
    except ArithmeticError as error:  # decimal.InvalidOperation for Decimal NaN
        raise ValueError(f"{name} is NaN") from error
    try:
        out = float(value)
    except OverflowError as error:
        raise ValueError(f"{name} is too large for a float") from error
    if math.isnan(out):
        raise ValueError(f"{name} is NaN")
    return out


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    current_replicas = int(current_replicas)
    min_replicas = int(min_replicas)
    max_replicas = int(max_replicas)
    value = _num(current_value, "current_value")
    target = _num(target_value, "target_value")
    tol = _num(tolerance, "tolerance")
    if current_replicas < 1:
        raise ValueError("current_replicas must be at least 1")
    if value < 0 or current_value < 0:  # the raw value too: Decimal("-1e-400") floats to -0.0
        raise ValueError("current_value must not be negative")
    if math.isinf(value):
        raise ValueError("current_value must be finite")
    if target <= 0:
        raise ValueError("target_value must be positive")
    if min_replicas < 1:
        raise ValueError("min_replicas must be at least 1")
    if max_replicas < min_replicas:
        raise ValueError("max_replicas must be at least min_replicas")
    if tol < 0 or tolerance < 0:
        raise ValueError("tolerance must not be negative")
    ratio = value / target
    if math.isinf(ratio):
        raise ValueError("ratio overflows")
    if abs(ratio - 1) <= tol:
        desired = current_replicas
    else:
        wanted = current_replicas * ratio
        if math.isinf(wanted):
            raise ValueError("replica count overflows")
        desired = math.ceil(wanted)
    return int(max(min_replicas, min(max_replicas, desired)))
