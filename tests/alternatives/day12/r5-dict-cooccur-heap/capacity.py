"""Capacity arithmetic: a table of rules checked by one function, then the formula."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _require(**checks):
    for name, (value, rule) in checks.items():
        try:
            ok = math.isfinite(value) and rule(value)
        except (TypeError, OverflowError):  # not a number, or an int too large for any float (10**400)
            ok = False
        if not ok:
            raise ValueError(f"bad {name}: {value!r}")


positive = lambda v: v > 0  # noqa: E731
whole_from_one = lambda v: v >= 1 and float(v).is_integer()  # noqa: E731


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _require(requests_per_day=(requests_per_day, positive), peak_to_mean=(peak_to_mean, lambda v: v >= 1))
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)  # divide first: an np.int32 count times 3 wraps


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _require(p99_target_ms=(p99_target_ms, positive))
    for index, hop in enumerate(other_hops_ms):
        _require(**{f"hop_{index}": (hop, lambda v: v >= 0)})
    left = p99_target_ms - math.fsum(other_hops_ms)
    if left <= 0:
        raise ValueError("no latency left for the model")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _require(workers=(workers, whole_from_one), mean_latency_ms=(mean_latency_ms, positive))
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _require(peak_qps=(peak_qps, positive), qps_per_replica=(qps_per_replica, positive),
             headroom=(headroom, lambda v: 0 <= v < 1), min_replicas=(min_replicas, whole_from_one))
    needed = _in_float_range("replicas_needed", -(-float(peak_qps) // (float(qps_per_replica) * (1 - float(headroom)))))  # float64 whatever came in
    return int(max(min_replicas, needed))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else float(v) if hasattr(v, "dtype") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    whole = (events_per_day, bytes_per_event, retention_days, replication)
    if all(type(v) is int for v in whole):  # plain ints: an exact product however large, only the sign to check
        if not all(positive(v) for v in whole):
            raise ValueError(f"bad storage input: {min(whole)!r}")
        return events_per_day * bytes_per_event * retention_days * replication
    _require(events_per_day=(events_per_day, positive), bytes_per_event=(bytes_per_event, positive),
             retention_days=(retention_days, positive), replication=(replication, positive))
    _require(storage=(events_per_day * bytes_per_event * retention_days * replication, lambda v: v >= 0))
    return math.ceil(events_per_day * bytes_per_event * retention_days * replication)


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
