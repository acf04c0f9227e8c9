"""HPA replica rule, split into small checks."""

from __future__ import annotations

from math import ceil, isfinite, isnan
import operator


def _count(name, value, lowest=1):
    value = operator.index(value)  # int, bool-free numpy ints too
    if value < lowest:
        raise ValueError(f"{name} must be at least {lowest}, got {value}")
    return value


def _number(name, value):
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float") from None
    if isnan(value):
        raise ValueError(f"{name} is NaN")
    return value


def _clamp(value, low, high):
    return sorted((low, value, high))[1]


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    current = _count("current_replicas", current_replicas)
    low = _count("min_replicas", min_replicas)
    high = _count("max_replicas", max_replicas, low)
    load = _number("current_value", current_value)
    if load < 0 or not isfinite(load):
        raise ValueError(f"current_value must be finite and non-negative, got {load}")
    target = _number("target_value", target_value)
    if target <= 0:
        raise ValueError(f"target_value must be positive, got {target}")
    tol = _number("tolerance", tolerance)
    if tol < 0:
        raise ValueError(f"tolerance must not be negative, got {tol}")

    ratio = load / target
    if not isfinite(ratio):
        raise ValueError(f"ratio {load} / {target} is too large")
    if abs(ratio - 1) <= tol:
        return _clamp(current, low, high)
    try:
        wanted = current * ratio
    except OverflowError:
        wanted = float("inf")
    if not isfinite(wanted):
        raise ValueError(f"{current} * {ratio} is too large")
    return _clamp(ceil(wanted), low, high)
