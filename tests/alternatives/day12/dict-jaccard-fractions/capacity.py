"""Capacity arithmetic with exact fractions and explicit checks."""
from __future__ import annotations

import math
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _finite(*values) -> bool:
    try:
        return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    except OverflowError:  # an int too large for any float (10**400) is not a finite float either
        return False


def peak_qps(requests_per_day, peak_to_mean=3.0):
    _require(_finite(requests_per_day, peak_to_mean), "inputs must be finite numbers")
    _require(requests_per_day > 0, "requests_per_day must be positive")
    _require(peak_to_mean >= 1, "peak_to_mean must be at least 1")
    return _in_float_range("peak_qps", float(requests_per_day) / SECONDS_PER_DAY * float(peak_to_mean))


def latency_budget_ms(p99_target_ms, other_hops_ms):
    hops = tuple(other_hops_ms)
    _require(_finite(p99_target_ms, *hops), "inputs must be finite numbers")
    _require(p99_target_ms > 0, "target must be positive")
    _require(all(h >= 0 for h in hops), "hops must be non-negative")
    left = p99_target_ms
    for h in hops:
        left -= h
    _require(left > 0, "the other hops already spend the whole budget")
    return float(left)


def replica_qps(workers, mean_latency_ms):
    _require(_finite(workers, mean_latency_ms), "inputs must be finite numbers")
    _require(workers >= 1, "need at least one worker")
    _require(mean_latency_ms > 0, "latency must be positive")
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000.0))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _require(_finite(peak_qps, qps_per_replica, headroom, min_replicas), "inputs must be finite numbers")
    _require(peak_qps > 0 and qps_per_replica > 0, "rates must be positive")
    _require(0 <= headroom < 1, "headroom must be in [0, 1)")
    _require(min_replicas >= 1, "min_replicas must be at least 1")
    usable = Fraction(qps_per_replica) * (1 - Fraction(headroom))
    needed = Fraction(peak_qps) / usable
    whole = -(-needed.numerator // needed.denominator)
    return max(math.ceil(min_replicas), int(whole))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    values = (events_per_day, bytes_per_event, retention_days, replication)
    # a plain int is exact as a Fraction however large; only the other inputs must be finite floats
    _require(all(type(v) is int or _finite(v) for v in values), "inputs must be finite numbers")
    _require(all(v > 0 for v in values), "every input must be positive")
    total = Fraction(events_per_day) * Fraction(bytes_per_event) * retention_days * replication
    return math.ceil(total)


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
