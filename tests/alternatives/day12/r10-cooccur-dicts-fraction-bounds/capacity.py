"""Back-of-envelope capacity planning, in exact rational arithmetic."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _exact(name: str, value, *, low=None, low_inclusive=False, high=None, any_size=False) -> Fraction:
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a number, not text: {value!r}")
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    except OverflowError:  # an int too large for any float (10**400): exact as a Fraction, but no float
        if not any_size:
            raise ValueError(f"{name} must fit in a float, got an int of {len(str(value))} digits") from None
        as_float = 0.0
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(value, numbers.Integral):  # numpy integers as Python ints: no product wraps in their width
        value = int(value)
    exact = Fraction(value if isinstance(value, numbers.Rational) else float(value))   # np.float32 is not a float: Fraction() refuses it
    if low is not None and (exact < low if low_inclusive else exact <= low):
        raise ValueError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {value!r}")
    if high is not None and not exact < high:
        raise ValueError(f"{name} must be < {high}, got {value!r}")
    return exact


def _whole(name: str, value, minimum: int) -> int:
    exact = _exact(name, value, low=minimum, low_inclusive=True)
    if exact.denominator != 1:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(exact)


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    per_day = _exact("requests_per_day", requests_per_day, low=0)
    ratio = _exact("peak_to_mean", peak_to_mean, low=1, low_inclusive=True)
    return float(_in_float_range("peak_qps", per_day / SECONDS_PER_DAY * ratio))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _exact("p99_target_ms", p99_target_ms, low=0)
    spent = sum((_exact("hop", hop, low=0, low_inclusive=True) for hop in other_hops_ms), Fraction(0))
    budget = target - spent
    if budget <= 0:
        raise ValueError(f"the other hops take {float(spent)} ms of a {float(target)} ms target: nothing left")
    return float(budget)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    n = _whole("workers", workers, 1)
    latency = _exact("mean_latency_ms", mean_latency_ms, low=0)
    return float(_in_float_range("replica_qps", n * 1000 / latency))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _exact("peak_qps", peak_qps, low=0)
    per_replica = _exact("qps_per_replica", qps_per_replica, low=0)
    spare = _exact("headroom", headroom, low=0, low_inclusive=True, high=1)
    floor = _whole("min_replicas", min_replicas, 1)
    usable = per_replica * (1 - spare)
    return max(floor, math.ceil(peak / usable))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    total = Fraction(1)
    for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                        ("retention_days", retention_days), ("replication", replication)):
        total *= _exact(name, value, low=0, any_size=True)
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
