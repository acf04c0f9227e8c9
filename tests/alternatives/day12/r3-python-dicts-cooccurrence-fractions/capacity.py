"""Answer B: exact arithmetic with fractions.Fraction, a declarative table of rules."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _check(**rules):
    for name, (value, ok) in rules.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not a number") from None
        except OverflowError:  # an int too large for any float (10**400): out of range like infinity
            raise ValueError(f"{name} is an int of {len(str(value))} digits, out of range") from None
        if math.isnan(number) or math.isinf(number) or not ok(number):
            raise ValueError(f"{name}={value!r} is out of range")


def _fraction(value):
    """Exact: numpy integers as Python ints (a product never wraps in their width), np.float32 via float."""
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    return Fraction(value if isinstance(value, numbers.Rational) else float(value))


def _no_text(*values) -> None:
    """A number given as text ("100") is a bad input: ValueError, never a TypeError nor an answer."""
    for value in values:
        if not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, got {type(value).__name__} {str(value)[:20]!r}")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _no_text(requests_per_day, peak_to_mean)
    _check(requests_per_day=(requests_per_day, lambda v: v > 0), peak_to_mean=(peak_to_mean, lambda v: v >= 1))
    return float(_in_float_range("peak_qps", _fraction(requests_per_day) / SECONDS_PER_DAY * _fraction(peak_to_mean)))


def latency_budget_ms(p99_target_ms, other_hops_ms):
    _no_text(p99_target_ms, *other_hops_ms)
    _check(p99_target_ms=(p99_target_ms, lambda v: v > 0))
    total = Fraction(0)
    for n, hop in enumerate(other_hops_ms):
        _check(**{f"hop[{n}]": (hop, lambda v: v >= 0)})
        total += _fraction(hop)
    left = _fraction(p99_target_ms) - total
    if left <= 0:
        raise ValueError("nothing is left for the model")
    return float(left)


def replica_qps(workers, mean_latency_ms):
    _no_text(workers, mean_latency_ms)
    _check(workers=(workers, lambda v: v >= 1 and v.is_integer()), mean_latency_ms=(mean_latency_ms, lambda v: v > 0))
    return float(_in_float_range("replica_qps", _fraction(workers) * 1000 / _fraction(mean_latency_ms)))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _no_text(peak_qps, qps_per_replica, headroom, min_replicas)
    _check(peak_qps=(peak_qps, lambda v: v > 0), qps_per_replica=(qps_per_replica, lambda v: v > 0),
           headroom=(headroom, lambda v: 0 <= v < 1), min_replicas=(min_replicas, lambda v: v >= 1 and v.is_integer()))
    usable = _fraction(qps_per_replica) * (1 - _fraction(headroom))
    return max(int(min_replicas), math.ceil(_fraction(peak_qps) / usable))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    _no_text(events_per_day, bytes_per_event, retention_days, replication)
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    if all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication)):
        # whole numbers: exact Fractions however large, so only their sign is checked
        if min(events_per_day, bytes_per_event, retention_days, replication) < 1:
            raise ValueError("every storage input must be > 0")
    else:
        _check(events_per_day=(events_per_day, lambda v: v > 0), bytes_per_event=(bytes_per_event, lambda v: v > 0),
               retention_days=(retention_days, lambda v: v > 0), replication=(replication, lambda v: v > 0))
    exact = [Fraction(v if isinstance(v, numbers.Rational) else float(v))   # np.float32 is not a float: Fraction() refuses it
             for v in (events_per_day, bytes_per_event, retention_days, replication)]
    return math.ceil(exact[0] * exact[1] * exact[2] * exact[3])


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
