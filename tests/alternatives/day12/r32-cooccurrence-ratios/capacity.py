"""Capacity planning (style B: explicit per-function checks, exact storage from integer ratios)."""

from __future__ import annotations

import math

import numpy as np

SECONDS_PER_DAY = 86_400


def _bad(x) -> bool:
    """True for NaN/inf floats, and for an int too large for any float (10**400)."""
    if isinstance(x, (int, np.integer)):
        try:
            float(x)
        except OverflowError:
            return True
        return False
    return not math.isfinite(x)


def peak_qps(requests_per_day, peak_to_mean=3.0):
    if _bad(requests_per_day) or _bad(peak_to_mean):
        raise ValueError("NaN or infinite input")
    if requests_per_day <= 0:
        raise ValueError("no traffic")
    if peak_to_mean < 1:
        raise ValueError("peak below the mean")
    return _in_float_range("peak_qps", float(requests_per_day) / SECONDS_PER_DAY * float(peak_to_mean))


def latency_budget_ms(p99_target_ms, other_hops_ms):
    hops = list(other_hops_ms)
    if _bad(p99_target_ms) or any(_bad(h) for h in hops):
        raise ValueError("NaN or infinite input")
    if p99_target_ms <= 0:
        raise ValueError("target must be positive")
    for h in hops:
        if h < 0:
            raise ValueError("negative hop")
    left = p99_target_ms
    for h in hops:
        left -= float(h)
    if left <= 0:
        raise ValueError("budget spent")
    return left


def replica_qps(workers, mean_latency_ms):
    if _bad(workers) or _bad(mean_latency_ms):
        raise ValueError("NaN or infinite input")
    if workers < 1:
        raise ValueError("need a worker")
    if mean_latency_ms <= 0:
        raise ValueError("latency must be positive")
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    for x in (peak_qps, qps_per_replica, headroom, min_replicas):
        if _bad(x):
            raise ValueError("NaN or infinite input")
    if peak_qps <= 0 or qps_per_replica <= 0:
        raise ValueError("rates must be positive")
    if not 0 <= headroom < 1:
        raise ValueError("headroom in [0, 1)")
    peak_qps, qps_per_replica, headroom = float(peak_qps), float(qps_per_replica), float(headroom)  # not float32
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, (int, np.integer)) or min_replicas < 1:
        raise ValueError("min_replicas must be a whole number >= 1")
    ratio = peak_qps / (qps_per_replica * (1 - headroom))
    needed = int(-(-ratio // 1))
    return max(int(min_replicas), needed)


def _ratio(x):
    if isinstance(x, (int, np.integer)):
        return int(x), 1
    return float(x).as_integer_ratio()


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    args = (events_per_day, bytes_per_event, retention_days, replication)
    if any(_bad(x) for x in args if not isinstance(x, (int, np.integer))):  # ints are exact ratios however large
        raise ValueError("NaN or infinite input")
    if any(not x > 0 for x in args):
        raise ValueError("every input must be > 0")
    num, den = 1, 1
    for x in args:
        n, d = _ratio(x)
        num, den = num * n, den * d
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
