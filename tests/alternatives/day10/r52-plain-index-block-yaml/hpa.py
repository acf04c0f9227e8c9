"""The HorizontalPodAutoscaler's replica rule."""

from __future__ import annotations

import math
import operator


def _as_count(name, value):
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a whole number, got {value!r}") from None
    return int(n)


def _as_float(name, value):
    if isinstance(value, str):
        raise TypeError(f"{name} must be a number, got text {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {value!r}") from exc
    except OverflowError as exc:
        raise ValueError(f"{name} is too large for a float: {value!r}") from exc
    if math.isnan(f):
        raise ValueError(f"{name} is NaN")
    return f


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    current_replicas = _as_count("current_replicas", current_replicas)
    min_replicas = _as_count("min_replicas", min_replicas)
    max_replicas = _as_count("max_replicas", max_replicas)
    current = _as_float("current_value", current_value)
    target = _as_float("target_value", target_value)
    tol = _as_float("tolerance", tolerance)

    if current_replicas < 1:
        raise ValueError(f"current_replicas must be >= 1, got {current_replicas}")
    if current < 0:
        raise ValueError(f"current_value must be >= 0, got {current}")
    if math.isinf(current):
        raise ValueError("current_value must be finite")
    if target <= 0:
        raise ValueError(f"target_value must be > 0, got {target}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be >= 1, got {min_replicas}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas ({max_replicas}) must be >= min_replicas ({min_replicas})")
    if tol < 0:
        raise ValueError(f"tolerance must be >= 0, got {tol}")

    ratio = current / target
    if math.isinf(ratio) or math.isnan(ratio):
        raise ValueError(f"ratio {current}/{target} is too large")

    if abs(ratio - 1) <= tol:
        desired = current_replicas
    else:
        wanted = current_replicas * ratio
        if math.isinf(wanted) or math.isnan(wanted):
            raise ValueError(f"{current_replicas} * {ratio} is too large")
        desired = math.ceil(wanted)
    return int(max(min_replicas, min(max_replicas, desired)))
