"""Capacity planning in plain floats, with ints kept exact for storage."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

SECONDS_PER_DAY = 86_400


def _as_float(name: str, value) -> float:
    try:
        number = float(value)
    except OverflowError as error:
        raise ValueError(f"{name}={value!r:.40} does not fit in a float") from error
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a number") from error
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{name} must be finite")
    return number


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    requests = _as_float("requests_per_day", requests_per_day)
    ratio = _as_float("peak_to_mean", peak_to_mean)
    if requests <= 0:
        raise ValueError("requests_per_day must be positive")
    if ratio < 1:
        raise ValueError("peak_to_mean must be at least 1")
    return _in_float_range("peak_qps", requests / SECONDS_PER_DAY * ratio)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    target = _as_float("p99_target_ms", p99_target_ms)
    hops = [_as_float("hop", hop) for hop in other_hops_ms]
    if target <= 0:
        raise ValueError("p99_target_ms must be positive")
    if any(hop < 0 for hop in hops):
        raise ValueError("hops cannot be negative")
    left = target - math.fsum(hops)
    if left <= 0:
        raise ValueError("no latency budget left for the model")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    w = _as_float("workers", workers)
    latency = _as_float("mean_latency_ms", mean_latency_ms)
    if w < 1 or w != int(w):
        raise ValueError("workers must be a whole number >= 1")
    if latency <= 0:
        raise ValueError("mean_latency_ms must be positive")
    return _in_float_range("replica_qps", w / (latency / 1000.0))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak = _as_float("peak_qps", peak_qps)
    per_replica = _as_float("qps_per_replica", qps_per_replica)
    spare = _as_float("headroom", headroom)
    if type(min_replicas) is not int:
        raise ValueError("min_replicas must be a plain int")
    if peak <= 0 or per_replica <= 0:
        raise ValueError("peak_qps and qps_per_replica must be positive")
    if not 0.0 <= spare < 1.0:
        raise ValueError("headroom must be in [0, 1)")
    if min_replicas < 1:
        raise ValueError("min_replicas must be at least 1")
    usable = per_replica * (1.0 - spare)
    ratio = peak / usable
    if not math.isfinite(ratio):
        raise ValueError("peak_qps / usable throughput is too large for a float")
    return max(min_replicas, math.ceil(ratio))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    inputs = [events_per_day, bytes_per_event, retention_days, replication]
    whole = [int(x) if isinstance(x, (int, np.integer)) and not isinstance(x, bool) else None for x in inputs]
    if all(w is not None for w in whole):
        if any(w <= 0 for w in whole):
            raise ValueError("every storage input must be positive")
        return whole[0] * whole[1] * whole[2] * whole[3]
    if any(w is not None and w <= 0 for w in whole):
        raise ValueError("every storage input must be positive")
    floats = [_as_float("storage input", x) for x in inputs]
    if any(f <= 0 for f in floats):
        raise ValueError("every storage input must be positive")
    if any(f != int(f) for f in floats[2:]):
        raise ValueError("retention_days and replication must be whole numbers")
    product = floats[0] * floats[1] * floats[2] * floats[3]
    if not math.isfinite(product):
        raise ValueError("storage too large to compute")
    return math.ceil(product)


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
