from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(x, name, any_size=False):
    if isinstance(x, numbers.Integral):
        if not any_size and abs(x) > sys.float_info.max:  # 10**400: no float holds it, a bad input like infinity
            raise ValueError(f"{name} must fit in a float")
        return
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite(requests_per_day, "requests_per_day"); _finite(peak_to_mean, "peak_to_mean")
    if not requests_per_day > 0:
        raise ValueError("requests_per_day must be > 0")
    if not peak_to_mean >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _finite(p99_target_ms, "target")
    if not p99_target_ms > 0:
        raise ValueError("target must be > 0")
    hops = list(other_hops_ms)
    for h in hops:
        _finite(h, "hop")
        if not h >= 0:
            raise ValueError("hops must be >= 0")
    budget = p99_target_ms - math.fsum(hops)
    if not budget > 0:
        raise ValueError("budget spent")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite(workers, "workers"); _finite(mean_latency_ms, "latency")
    if not workers >= 1:
        raise ValueError("workers must be >= 1")
    if not mean_latency_ms > 0:
        raise ValueError("latency must be > 0")
    return _in_float_range("replica_qps", workers * (1000 / mean_latency_ms))  # a float factor: an np.int16 count never wraps


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    for v, n in ((peak_qps, "peak_qps"), (qps_per_replica, "qps_per_replica"), (headroom, "headroom"),
                 (min_replicas, "min_replicas")):
        _finite(v, n)
    if not peak_qps > 0 or not qps_per_replica > 0:
        raise ValueError("rates must be > 0")
    if not 0 <= headroom < 1:
        raise ValueError("0 <= headroom < 1")
    if not min_replicas >= 1:
        raise ValueError("min_replicas >= 1")
    floor = math.ceil(min_replicas)
    return max(int(floor), math.ceil(_in_float_range("replicas_needed", float(peak_qps) / (float(qps_per_replica) * (1 - float(headroom))))))


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    args = tuple(float(v) if isinstance(v, numbers.Real) and not isinstance(v, numbers.Rational) else v  # np.float32
                 for v in (events_per_day, bytes_per_event, retention_days, replication))
    whole = all(isinstance(v, numbers.Integral) for v in args)  # exact ints however large; next to a float, must fit one
    for v in args:
        _finite(v, "input", any_size=whole)
        if not v > 0:
            raise ValueError("every input must be > 0")
    if all(isinstance(v, numbers.Integral) for v in args):
        return math.prod(int(v) for v in args)
    if math.prod(args) == math.inf:  # finite inputs, a product past any float (1e200 * 1e200)
        raise ValueError("storage must fit in a float")
    return math.ceil(math.prod(args))


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
