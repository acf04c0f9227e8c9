"""Back-of-envelope capacity planning (style A: floats, validated by one helper per kind)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

SECONDS_PER_DAY = 86_400


def _number(value, name: str) -> float:
    """A finite Python float from an int, float or numpy number; ValueError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, np.integer):
        value = int(value)
    try:
        result = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large: {value!r}") from None
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    requests = _number(requests_per_day, "requests_per_day")
    peak = _number(peak_to_mean, "peak_to_mean")
    if not requests > 0:
        raise ValueError("requests_per_day must be > 0")
    if not peak >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests / SECONDS_PER_DAY * peak)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _number(p99_target_ms, "p99_target_ms")
    if not target > 0:
        raise ValueError("p99_target_ms must be > 0")
    hops = [_number(hop, "hop") for hop in other_hops_ms]
    if any(hop < 0 for hop in hops):
        raise ValueError("every hop must be >= 0")
    budget = target - math.fsum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops spend the whole target: {budget}")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    n = _number(workers, "workers")
    latency = _number(mean_latency_ms, "mean_latency_ms")
    if not n >= 1:
        raise ValueError("workers must be >= 1")
    if not latency > 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _in_float_range("replica_qps", n * 1000.0 / latency)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _number(peak_qps, "peak_qps")
    per = _number(qps_per_replica, "qps_per_replica")
    room = _number(headroom, "headroom")
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, (int, np.integer)):
        raise ValueError("min_replicas must be an int")
    floor = int(min_replicas)
    if not peak > 0 or not per > 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= room < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    needed = math.ceil(_in_float_range("replicas_needed", peak / (per * (1.0 - room))))
    return max(floor, needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    args = (events_per_day, bytes_per_event, retention_days, replication)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in args):
        whole = [int(a) for a in args]
        if any(a <= 0 for a in whole):
            raise ValueError("every input must be > 0")
        return whole[0] * whole[1] * whole[2] * whole[3]
    values = [_number(a, "storage input") for a in args]
    if any(not v > 0 for v in values):
        raise ValueError("every input must be > 0")
    product = values[0] * values[1] * values[2] * values[3]
    if not math.isfinite(product):
        raise ValueError("the plan is too large for a float")
    return max(1, math.ceil(product))


def _in_float_range(name, value):
    """A result from finite inputs can still be past a float's range (1e308 QPS on 1e-10 QPS replicas is inf):
    refuse it with ValueError rather than return inf or let math.ceil(inf) raise OverflowError."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # a Fraction or int too large for a float
        finite = False
    if not finite:
        raise ValueError(f"{name} is past the range of a float for these inputs")
    return value
