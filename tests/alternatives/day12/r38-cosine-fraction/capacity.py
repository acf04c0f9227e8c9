"""Capacity planning with exact rational arithmetic (fractions.Fraction)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400


def _number(name, value):
    """A finite plain number (int or float), or ValueError."""
    if isinstance(value, np.integer):
        value = int(value)
    elif isinstance(value, np.floating):
        value = float(value)
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value if isinstance(value, (int, float)) else as_float  # np.bool_, Decimal...: Fraction refuses them


def _finite_float(name, exact):
    try:
        result = float(exact)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float") from None
    if not math.isfinite(result):
        raise ValueError(f"{name} is too large for a float")
    return result


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    requests = _number("requests_per_day", requests_per_day)
    ratio = _number("peak_to_mean", peak_to_mean)
    if not requests > 0:
        raise ValueError("requests_per_day must be > 0")
    if not ratio >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _finite_float("peak_qps", Fraction(requests) / SECONDS_PER_DAY * Fraction(ratio))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    target = _number("p99_target_ms", p99_target_ms)
    if not target > 0:
        raise ValueError("p99_target_ms must be > 0")
    spent = Fraction(0)
    for hop in other_hops_ms:
        hop = _number("hop", hop)
        if not hop >= 0:
            raise ValueError("every hop must be >= 0")
        spent += Fraction(hop)
    budget = Fraction(target) - spent
    if not budget > 0:
        raise ValueError(f"the other hops use the whole {target} ms budget")
    return _finite_float("budget", budget)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    w = _number("workers", workers)
    latency = _number("mean_latency_ms", mean_latency_ms)
    if not w >= 1:
        raise ValueError("workers must be >= 1")
    if not latency > 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _finite_float("replica_qps", Fraction(w) * 1000 / Fraction(latency))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak = _number("peak_qps", peak_qps)
    per = _number("qps_per_replica", qps_per_replica)
    room = _number("headroom", headroom)
    if isinstance(min_replicas, np.integer):
        min_replicas = int(min_replicas)
    if isinstance(min_replicas, int):
        floor = min_replicas
    else:
        floor = math.ceil(Fraction(_number("min_replicas", min_replicas)))
    if not peak > 0 or not per > 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= room < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not min_replicas >= 1:
        raise ValueError("min_replicas must be >= 1")
    needed = math.ceil(Fraction(peak) / (Fraction(per) * (1 - Fraction(room))))
    return int(max(floor, needed))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    total = Fraction(1)
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        if isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        if isinstance(value, int):
            if not value > 0:
                raise ValueError(f"{name} must be > 0")
        else:
            value = _number(name, value)
            if not value > 0:
                raise ValueError(f"{name} must be > 0")
        total *= Fraction(value)
    return math.ceil(total)
