"""Validation table per function, exact Decimal arithmetic for the storage rounding."""
from __future__ import annotations

import math
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_CEILING, Context, Decimal, localcontext

SECONDS_PER_DAY = 86_400


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _real(name, value):
    _require(isinstance(value, (int, float)), f"{name} must be a finite number")
    try:
        _require(math.isfinite(value), f"{name} must be a finite number")
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        raise ValueError(f"{name} must be a finite number, not an int of {len(str(value))} digits") from None
    return value


def peak_qps(requests_per_day, peak_to_mean=3.0):
    _require(_real("requests_per_day", requests_per_day) > 0, "requests_per_day must be > 0")
    _require(_real("peak_to_mean", peak_to_mean) >= 1, "peak_to_mean must be >= 1")
    mean = requests_per_day / SECONDS_PER_DAY
    return _in_float_range("peak_qps", mean * peak_to_mean)


def latency_budget_ms(p99_target_ms, other_hops_ms):
    _require(_real("p99_target_ms", p99_target_ms) > 0, "target must be > 0")
    total = 0.0
    for hop in other_hops_ms:
        _require(_real("hop", hop) >= 0, "a hop cannot be negative")
        total += hop
    budget = p99_target_ms - total
    _require(budget > 0, "the other hops already spend the whole target")
    return budget


def replica_qps(workers, mean_latency_ms):
    _require(_real("workers", workers) >= 1, "need at least one worker")
    _require(_real("mean_latency_ms", mean_latency_ms) > 0, "latency must be > 0")
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000.0))


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    _require(_real("peak_qps", peak_qps) > 0, "peak_qps must be > 0")
    _require(_real("qps_per_replica", qps_per_replica) > 0, "qps_per_replica must be > 0")
    _require(0 <= _real("headroom", headroom) < 1, "headroom must be in [0, 1)")
    _require(_real("min_replicas", min_replicas) >= 1, "min_replicas must be >= 1")
    usable = qps_per_replica * (1 - headroom)
    return max(math.ceil(min_replicas), math.ceil(_in_float_range("replicas_needed", peak_qps / usable)))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    # Exact products: the default context keeps only 28 significant digits.
    # plain ints only: their product is exact however large (next to a float, they must fit a float)
    whole = all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication))
    with localcontext(Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)):
        total = Decimal(1)
        for name, value in (("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
                            ("retention_days", retention_days), ("replication", replication)):
            _require((value if whole else _real(name, value)) > 0, f"{name} must be > 0")
            total *= Decimal(str(value))
        return int(total.to_integral_value(rounding=ROUND_CEILING))


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
