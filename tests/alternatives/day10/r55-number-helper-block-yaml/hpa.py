"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it."""

from __future__ import annotations

import math


def _number(name, value):
    """A Python float for a metric-like argument; ValueError for NaN or a value too large for a float."""
    try:
        result = float(value)
    except OverflowError as error:
        raise ValueError(f"{name} {value!r} is too large for a float") from error
    if math.isnan(result):
        raise ValueError(f"{name} is NaN")
    return result


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    if current_replicas < 1:
        raise ValueError(f"current_replicas must be at least 1, not {current_replicas!r}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be at least 1, not {min_replicas!r}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas {max_replicas!r} is below min_replicas {min_replicas!r}")
    value = _number("current_value", current_value)
    target = _number("target_value", target_value)
    tol = _number("tolerance", tolerance)
    if value < 0 or math.isinf(value):
        raise ValueError(f"current_value must be finite and >= 0, not {current_value!r}")
    if target <= 0:
        raise ValueError(f"target_value must be above 0, not {target_value!r}")
    if tol < 0:
        raise ValueError(f"tolerance must be >= 0, not {tolerance!r}")

    ratio = value / target
    if math.isinf(ratio):
        raise ValueError(f"the ratio {current_value!r} / {target_value!r} is too large")
    if abs(ratio - 1) <= tol:
        desired = current_replicas
    else:
        wanted = current_replicas * ratio
        if math.isinf(wanted):
            raise ValueError(f"{current_replicas!r} replicas x ratio {ratio!r} is too large")
        desired = math.ceil(wanted)
    return int(max(min_replicas, min(max_replicas, desired)))
