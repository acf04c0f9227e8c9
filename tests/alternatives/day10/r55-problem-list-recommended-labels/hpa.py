"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it."""

from __future__ import annotations

from math import ceil, isfinite, isnan


def _as_float(label: str, raw) -> float:
    try:
        number = float(raw)
    except OverflowError:
        raise ValueError(f"{label}: {raw!r} does not fit in a float") from None
    if isnan(number):
        raise ValueError(f"{label}: NaN is not a usable number")
    return number


def _check_counts(current: int, low: int, high: int) -> None:
    problems = [text for bad, text in (
        (current < 1, f"current_replicas {current!r} < 1"),
        (low < 1, f"min_replicas {low!r} < 1"),
        (high < low, f"max_replicas {high!r} < min_replicas {low!r}"),
    ) if bad]
    if problems:
        raise ValueError("; ".join(problems))


def _clamp(count: int, low: int, high: int) -> int:
    return sorted((int(low), int(count), int(high)))[1]


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`."""
    _check_counts(current_replicas, min_replicas, max_replicas)
    load = _as_float("current_value", current_value)
    goal = _as_float("target_value", target_value)
    band = _as_float("tolerance", tolerance)
    if not (isfinite(load) and load >= 0):
        raise ValueError(f"current_value: {current_value!r} is not a finite number >= 0")
    if not goal > 0:
        raise ValueError(f"target_value: {target_value!r} is not above 0")
    if not band >= 0:
        raise ValueError(f"tolerance: {tolerance!r} is negative")

    ratio = load / goal
    if not isfinite(ratio):
        raise ValueError(f"ratio {load!r} / {goal!r} overflows a float")
    if abs(ratio - 1) <= band:
        return _clamp(current_replicas, min_replicas, max_replicas)
    wanted = current_replicas * ratio
    if not isfinite(wanted):
        raise ValueError(f"{current_replicas!r} x {ratio!r} overflows a float")
    return _clamp(ceil(wanted), min_replicas, max_replicas)
