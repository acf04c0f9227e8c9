"""Capacity: validate via float conversion, exact storage via Fraction."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _num(x, name):
    if isinstance(x, bool):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(x)
    except OverflowError:
        raise ValueError(f"{name} is too large") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite")
    return f


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    r = _num(requests_per_day, "requests_per_day")
    p = _num(peak_to_mean, "peak_to_mean")
    if not r > 0 or not p >= 1:
        raise ValueError("requests_per_day > 0 and peak_to_mean >= 1")
    result = r / SECONDS_PER_DAY * p
    if not math.isfinite(result):
        raise ValueError("too large")
    return result


def latency_budget_ms(p99_target_ms: float, other_hops_ms) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    t = _num(p99_target_ms, "p99_target_ms")
    if not t > 0:
        raise ValueError("target must be > 0")
    hops = [_num(h, "hop") for h in other_hops_ms]
    if any(not h >= 0 for h in hops):
        raise ValueError("hops must be >= 0")
    budget = t - sum(hops)
    if not budget > 0:
        raise ValueError("budget spent")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    w = _num(workers, "workers")
    lat = _num(mean_latency_ms, "mean_latency_ms")
    if not w >= 1 or w != int(w) or not lat > 0:
        raise ValueError("workers >= 1 (whole), latency > 0")
    result = w * 1000 / lat
    if not math.isfinite(result):
        raise ValueError("too large")
    return result


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak = _num(peak_qps, "peak_qps")
    per = _num(qps_per_replica, "qps_per_replica")
    h = _num(headroom, "headroom")
    floor = _num(min_replicas, "min_replicas")
    if not peak > 0 or not per > 0 or not 0 <= h < 1 or not floor >= 1:
        raise ValueError("bad input")
    ratio = peak / (per * (1 - h))
    if not math.isfinite(ratio):
        raise ValueError("too large")
    return max(math.ceil(floor), math.ceil(ratio))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    total = Fraction(1)
    for name, x in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                    ("retention_days", retention_days), ("replication", replication)):
        if isinstance(x, bool):
            raise ValueError(f"{name} must be a number")
        if isinstance(x, (int,)) or (hasattr(x, "dtype") and x.dtype.kind in "iu"):
            value = Fraction(int(x))
        else:
            f = _num(x, name)
            value = Fraction(f)
        if not value > 0:
            raise ValueError(f"{name} must be > 0")
        total *= value
    return math.ceil(total)
