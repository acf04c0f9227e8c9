"""Back-of-envelope capacity planning, in exact rational arithmetic where it rounds."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400


class _Check:
    """Validates one named number against a predicate."""

    def __init__(self, rule, text):
        self.rule, self.text = rule, text

    def __call__(self, name, value):
        try:
            ok = math.isfinite(value) and self.rule(value)
        except (TypeError, OverflowError):  # not a number, or an int too large for any float (10**400)
            ok = False
        if not ok:
            raise ValueError(f"{name} must be {self.text}, got {value!r}")
        if isinstance(value, numbers.Integral):  # np.int16 too: a Python int never wraps in a fixed width
            value = operator.index(value)
        return Fraction(value if isinstance(value, numbers.Rational) else float(value))   # np.float32 is not a float: Fraction() refuses it


POSITIVE = _Check(lambda v: v > 0, "finite and > 0")
NON_NEGATIVE = _Check(lambda v: v >= 0, "finite and >= 0")
AT_LEAST_ONE = _Check(lambda v: v >= 1, "finite and >= 1")
FRACTION = _Check(lambda v: 0 <= v < 1, "in [0, 1)")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    rate = POSITIVE("requests_per_day", requests_per_day) / SECONDS_PER_DAY
    return float(_in_float_range("peak_qps", rate * AT_LEAST_ONE("peak_to_mean", peak_to_mean)))


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    left = POSITIVE("p99_target_ms", p99_target_ms)
    for i, hop in enumerate(other_hops_ms):
        left -= NON_NEGATIVE(f"hop {i}", hop)
    if left <= 0:
        raise ValueError("the other hops leave no budget")
    return float(left)


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    w = AT_LEAST_ONE("workers", workers)
    return float(_in_float_range("replica_qps", w * 1000 / POSITIVE("mean_latency_ms", mean_latency_ms)))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = POSITIVE("peak_qps", peak_qps)
    per = POSITIVE("qps_per_replica", qps_per_replica)
    free = FRACTION("headroom", headroom)
    floor = AT_LEAST_ONE("min_replicas", min_replicas)
    return int(max(math.ceil(floor), math.ceil(peak / (per * (1 - free)))))


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
        if type(value) is int and value > 0:  # a whole number is an exact factor however large
            total *= value
        else:
            total *= POSITIVE(name, value)
    return int(math.ceil(total))


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
