from __future__ import annotations
import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _require(ok: bool, msg: str) -> None:
    if not ok:
        raise ValueError(msg)


def _finite(x):
    try:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    except OverflowError:  # an int too large for any float (10**400) is not finite either
        return False


def _positive(x, name):
    _require(_finite(x) and x > 0, f"{name} must be a finite number > 0")


def peak_qps(requests_per_day, peak_to_mean=3.0):
    _positive(requests_per_day, "requests_per_day")
    _positive(peak_to_mean, "peak_to_mean")
    _require(peak_to_mean >= 1, "peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)  # dividing first: 1e308 x 3 would overflow


def latency_budget_ms(p99_target_ms, other_hops_ms):
    _positive(p99_target_ms, "p99_target_ms")
    other_hops_ms = list(other_hops_ms)  # walked twice: an int past any float is refused before math.isfinite sees it
    _require(all(_finite(hop) for hop in other_hops_ms if type(hop) is int), "each hop must be a finite number >= 0")
    total = 0.0
    for hop in other_hops_ms:
        _require(isinstance(hop, (int, float)) and not isinstance(hop, bool) and math.isfinite(hop) and hop >= 0,
                 "each hop must be a finite number >= 0")
        total += hop
    budget = p99_target_ms - total
    _require(budget > 0, "the other hops use the whole target")
    return budget


def replica_qps(workers, mean_latency_ms):
    _positive(workers, "workers")
    _require(float(workers).is_integer() and workers >= 1, "workers must be a whole number >= 1")
    _positive(mean_latency_ms, "mean_latency_ms")
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _positive(peak_qps, "peak_qps")
    _positive(qps_per_replica, "qps_per_replica")
    _require(isinstance(headroom, (int, float)) and not isinstance(headroom, bool) and 0 <= headroom < 1,
             "headroom must be in [0, 1)")
    _require(isinstance(min_replicas, int) and not isinstance(min_replicas, bool) and min_replicas >= 1,
             "min_replicas must be an int >= 1")
    usable = qps_per_replica * (1 - headroom)
    return max(min_replicas, math.ceil(_in_float_range("replicas_needed", peak_qps / usable)))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    for name, v in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                    ("retention_days", retention_days), ("replication", replication)):
        if type(v) is int:  # a whole number is exact however large
            _require(v > 0, f"{name} must be > 0")
        else:
            _positive(v, name)
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # an int too large for a float next to a float input
        raise ValueError("an int too large for a float next to a float input") from None


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
