"""Capacity arithmetic; storage exact through Python ints, or Decimal at unlimited precision for floats."""
from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from decimal import MAX_PREC, ROUND_CEILING, Context, Decimal

SECONDS_PER_DAY = 86_400


def _finite(value, name):
    if isinstance(value, numbers.Integral):
        if abs(value) <= sys.float_info.max:
            return
        raise ValueError(f"{name} must fit in a float, got an int of {len(str(value))} digits")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite(requests_per_day, "requests_per_day")
    _finite(peak_to_mean, "peak_to_mean")
    if requests_per_day <= 0:
        raise ValueError("no traffic")
    if peak_to_mean < 1:
        raise ValueError("the peak cannot be below the mean")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)  # divide first: an np.int32 count times 3 wraps


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _finite(p99_target_ms, "p99_target_ms")
    if p99_target_ms <= 0:
        raise ValueError("target must be positive")
    left = p99_target_ms
    for hop in other_hops_ms:
        _finite(hop, "hop")
        if hop < 0:
            raise ValueError("a hop cannot take negative time")
        left -= float(hop)
    if left <= 0:
        raise ValueError("budget spent")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite(workers, "workers")
    _finite(mean_latency_ms, "mean_latency_ms")
    if workers < 1 or mean_latency_ms <= 0:
        raise ValueError("need workers >= 1 and latency > 0")
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    for name, value in (("peak_qps", peak_qps), ("qps_per_replica", qps_per_replica), ("headroom", headroom),
                        ("min_replicas", min_replicas)):
        _finite(value, name)
    if peak_qps <= 0 or qps_per_replica <= 0:
        raise ValueError("loads must be positive")
    if headroom < 0 or headroom >= 1:
        raise ValueError("headroom must be in [0, 1)")
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, int):
        raise ValueError("min_replicas must be a plain int")
    if min_replicas < 1:
        raise ValueError("min_replicas must be >= 1")
    usable = float(qps_per_replica) * (1 - float(headroom))
    return max(min_replicas, math.ceil(_in_float_range("replicas_needed", float(peak_qps) / usable)))  # float(): np.float32 divides in float32


def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    values = (events_per_day, bytes_per_event, retention_days, replication)
    for value in values:
        if not isinstance(value, numbers.Integral):  # whole numbers are exact however large
            _finite(value, "storage input")
        if value <= 0:
            raise ValueError("every storage input must be > 0")
    if all(isinstance(v, numbers.Integral) for v in values):
        product = 1
        for v in values:
            product *= int(v)
        return product
    exact = Context(prec=MAX_PREC, Emax=999_999, Emin=-999_999)
    product = Decimal(1)
    for v in values:
        product = exact.multiply(product, Decimal(int(v)) if isinstance(v, numbers.Integral) else Decimal(float(v)))
    return int(product.to_integral_value(rounding=ROUND_CEILING, context=exact))


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
