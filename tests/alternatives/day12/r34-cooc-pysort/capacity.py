"""Capacity: explicit type dispatch; exact storage through integer ratios."""
from __future__ import annotations

import math
import numbers

import numpy as np

SECONDS_PER_DAY = 86_400


def _real(x, name):
    """Return x as a finite Python float, or raise ValueError."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.number)):
        raise ValueError(f"{name}: not a number: {x!r}")
    try:
        value = float(x)
    except OverflowError:
        raise ValueError(f"{name}: too large for a float") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: must be finite")
    return value


def peak_qps(requests_per_day, peak_to_mean=3.0):
    per_day = _real(requests_per_day, "requests_per_day")
    ratio = _real(peak_to_mean, "peak_to_mean")
    if per_day <= 0 or ratio < 1:
        raise ValueError("requests_per_day must be > 0 and peak_to_mean >= 1")
    return _in_float_range("peak_qps", per_day / SECONDS_PER_DAY * ratio)


def latency_budget_ms(p99_target_ms, other_hops_ms):
    target = _real(p99_target_ms, "p99_target_ms")
    if target <= 0:
        raise ValueError("target must be > 0")
    spent = 0.0
    for hop in other_hops_ms:
        hop = _real(hop, "hop")
        if hop < 0:
            raise ValueError("a hop cannot be negative")
        spent += hop
    left = target - spent
    if left <= 0:
        raise ValueError("nothing left for the model")
    return left


def replica_qps(workers, mean_latency_ms):
    w = _real(workers, "workers")
    latency = _real(mean_latency_ms, "mean_latency_ms")
    if w < 1 or not w.is_integer() or latency <= 0:
        raise ValueError("workers must be a whole number >= 1 and latency > 0")
    return _in_float_range("replica_qps", w / (latency / 1000))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    peak = _real(peak_qps, "peak_qps")
    per_replica = _real(qps_per_replica, "qps_per_replica")
    free = _real(headroom, "headroom")
    floor = _real(min_replicas, "min_replicas")
    if peak <= 0 or per_replica <= 0 or not (0 <= free < 1) or floor < 1:
        raise ValueError("bad replicas_needed input")
    if not floor.is_integer():
        raise ValueError("min_replicas must be whole")
    usable = per_replica * (1 - free)
    needed = math.ceil(_in_float_range("replicas_needed", peak / usable))
    return max(int(floor), needed)


def _ratio(x, name):
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name}: not a number")
    if isinstance(x, (int, np.integer)):
        num, den = int(x), 1
    else:
        num, den = _real(x, name).as_integer_ratio()
    if num <= 0:
        raise ValueError(f"{name} must be > 0")
    return num, den


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    num, den = 1, 1
    for name, x in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                    ("retention_days", retention_days), ("replication", replication)):
        n, d = _ratio(x, name)
        num *= n
        den *= d
    return -(-num // den)


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
