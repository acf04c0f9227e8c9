"""Back-of-envelope capacity planning, with exact fractions for the rounded answers."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral

SECONDS_PER_DAY = 86_400


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        return False


def _positive(value) -> bool:
    return _finite(value) and value > 0


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _require(_positive(requests_per_day), "requests_per_day must be a finite number > 0")
    _require(_finite(peak_to_mean) and peak_to_mean >= 1, "peak_to_mean must be finite and >= 1")
    return _in_float_range("peak_qps", float(requests_per_day) / SECONDS_PER_DAY * peak_to_mean)  # as a float: an np.int32 count times 3 wraps round


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _require(_positive(p99_target_ms), "p99_target_ms must be a finite number > 0")
    _require(all(_finite(hop) and hop >= 0 for hop in other_hops_ms), "every hop must be finite and >= 0")
    left = p99_target_ms - math.fsum(other_hops_ms)
    _require(left > 0, "the other hops already spend the whole p99 target")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _require(_finite(workers) and workers >= 1, "workers must be finite and >= 1")
    _require(_positive(mean_latency_ms), "mean_latency_ms must be a finite number > 0")
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _require(_positive(peak_qps), "peak_qps must be a finite number > 0")
    _require(_positive(qps_per_replica), "qps_per_replica must be a finite number > 0")
    _require(_finite(headroom) and 0 <= headroom < 1, "headroom must be in [0, 1)")
    _require(isinstance(min_replicas, Integral) and min_replicas >= 1, "min_replicas must be an int >= 1")
    # numpy integer rates as Python ints: a Fraction keeps their type, which wraps round in its own width
    # and numpy floats as Python floats: Fraction(np.float32(...)) raises TypeError
    peak_qps, qps_per_replica, headroom = (int(v) if isinstance(v, Integral) else float(v)
                                           for v in (peak_qps, qps_per_replica, headroom))
    usable = Fraction(qps_per_replica) * (1 - Fraction(headroom))
    return max(int(min_replicas), math.ceil(Fraction(peak_qps) / usable))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    factors = (events_per_day, bytes_per_event, retention_days, replication)
    # a plain int is an exact Fraction however large: it only has to be > 0
    _require(all(factor > 0 if type(factor) is int else _positive(factor) for factor in factors),
             "every input must be a finite number > 0")
    # np.float32 is not a float: Fraction() refuses it, so hand it over as the float it holds
    return math.ceil(math.prod(Fraction(f if isinstance(f, numbers.Rational) else float(f)) for f in factors))


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
