"""Back-of-envelope capacity planning in decimal arithmetic (numbers as written)."""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_CEILING, Context, Decimal, InvalidOperation, localcontext

SECONDS_PER_DAY = Decimal(86_400)
FLOAT_MAX = Decimal(sys.float_info.max)  # past it an int (10**400) is a bad input, like infinity


def _dec(value, name: str, any_size: bool = False) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{name}: not a number")
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{name}: not a number") from None
    if not d.is_finite() or (abs(d) > FLOAT_MAX and not any_size):
        raise ValueError(f"{name}: must be finite")
    return d


def _positive(value, name: str, any_size: bool = False) -> Decimal:
    d = _dec(value, name, any_size)
    if d <= 0:
        raise ValueError(f"{name}: must be > 0")
    return d


def _ceil(d: Decimal) -> int:
    return int(d.to_integral_value(rounding=ROUND_CEILING))


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    requests = _positive(requests_per_day, "requests_per_day")
    ratio = _dec(peak_to_mean, "peak_to_mean")
    if ratio < 1:
        raise ValueError("peak_to_mean: the peak cannot be below the mean")
    return float(_in_float_range("peak_qps", requests / SECONDS_PER_DAY * ratio))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _no_text(p99_target_ms, *other_hops_ms)
    target = _positive(p99_target_ms, "p99_target_ms")
    spent = Decimal(0)
    for hop in other_hops_ms:
        d = _dec(hop, "hop")
        if d < 0:
            raise ValueError("a hop cannot take negative time")
        spent += d
    left = target - spent
    if left <= 0:
        raise ValueError("the other hops already spend the whole target")
    return float(left)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _no_text(workers, mean_latency_ms)
    w = _dec(workers, "workers")
    if w < 1 or w != w.to_integral_value():
        raise ValueError("workers: a whole number, at least 1")
    latency = _positive(mean_latency_ms, "mean_latency_ms")
    return float(_in_float_range("replica_qps", w * 1000 / latency))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    peak = _positive(peak_qps, "peak_qps")
    per_replica = _positive(qps_per_replica, "qps_per_replica")
    spare = _dec(headroom, "headroom")
    if not 0 <= spare < 1:
        raise ValueError("headroom: in [0, 1)")
    floor = _dec(min_replicas, "min_replicas")
    if floor < 1:
        raise ValueError("min_replicas: at least 1")
    return max(_ceil(floor), _ceil(peak / (per_replica * (1 - spare))))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # Exact products: the default context keeps only 28 significant digits.
    # plain ints are exact however large; next to a float (written as str) they must fit a float
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    whole = all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication))
    with localcontext(Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)):
        total = Decimal(1)
        for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                            ("retention_days", retention_days), ("replication", replication)):
            total *= _positive(value, name, any_size=whole)
        return _ceil(total)


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
