"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it.

Knowing the rule lets you predict what an HPA will do before a traffic spike does it
for you: how far one scrape of high CPU moves the replica count, why small wobbles
change nothing (the tolerance band), and why the answer is always rounded up.
"""

from __future__ import annotations

import math


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`.

    ratio = current_value / target_value; within `tolerance` of 1 the count stays as it
    is, otherwise it becomes ceil(current_replicas * ratio); the result is then clamped
    to [min_replicas, max_replicas].
    """
    if current_replicas < 1:
        raise ValueError(f"current_replicas must be at least 1, got {current_replicas}")
    # 64-bit floats from the start, as the controller's arithmetic is: also for a numpy.float32 metric, and so
    # that a Decimal NaN is compared as a float NaN (a Decimal comparison with NaN raises InvalidOperation).
    value, target, band = (_as_float(current_value, "current_value"), _as_float(target_value, "target_value"),
                           _as_float(tolerance, "tolerance"))
    if not 0 <= value < math.inf:  # NaN too: a metric that could not be read
        raise ValueError(f"current_value must be a finite number >= 0, got {current_value}")
    if not target > 0:
        raise ValueError(f"target_value must be a positive number, got {target_value}")
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be at least 1, got {min_replicas}")
    if max_replicas < min_replicas:
        raise ValueError(f"max_replicas ({max_replicas}) must not be below min_replicas ({min_replicas})")
    if not band >= 0:  # NaN too: it would switch the band off
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance}")
    ratio = value / target
    if math.isinf(ratio):
        raise ValueError(f"current_value / target_value overflows: {current_value} / {target_value}")
    if abs(ratio - 1) <= band:
        desired = current_replicas
    else:
        wanted = current_replicas * ratio
        if math.isinf(wanted):  # ceil would raise OverflowError
            raise ValueError(f"{current_replicas} replicas * ratio {ratio} overflows")
        desired = math.ceil(wanted)
    return int(max(min_replicas, min(max_replicas, desired)))  # a NumPy count in gives a Python int out


def _as_float(number, name: str) -> float:
    """`number` as a Python float; a whole number past 1e308 is a ValueError like the other bad inputs."""
    try:
        return float(number)
    except OverflowError:
        raise ValueError(f"{name} is a whole number too large for a float") from None
