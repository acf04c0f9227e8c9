"""Back-of-envelope capacity planning: traffic → latency budget → replicas → storage."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _ok(value: float, low: float, *, inclusive: bool) -> bool:
    """Finite and above (or at) a lower bound; NaN fails every comparison."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for any float (10**400) is not a finite float
        return False
    return finite and (value >= low if inclusive else value > low)


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _require(_ok(requests_per_day, 0, inclusive=False), "requests_per_day must be a finite number > 0")
    _require(_ok(peak_to_mean, 1, inclusive=True), "peak_to_mean must be a finite number >= 1")
    mean_per_second = requests_per_day / SECONDS_PER_DAY
    return _in_float_range("peak_qps", mean_per_second * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    hops = list(other_hops_ms)
    _require(_ok(p99_target_ms, 0, inclusive=False), "the p99 target must be a finite number > 0")
    _require(all(_ok(hop, 0, inclusive=True) for hop in hops), "every hop must be a finite number >= 0")
    left = p99_target_ms - math.fsum(hops)
    _require(left > 0, f"the other hops already use the whole {p99_target_ms} ms target")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _require(_ok(workers, 1, inclusive=True), "workers must be a finite number >= 1")
    _require(_ok(mean_latency_ms, 0, inclusive=False), "mean_latency_ms must be a finite number > 0")
    mean_latency_s = mean_latency_ms / 1000
    return _in_float_range("replica_qps", workers / mean_latency_s)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _require(_ok(peak_qps, 0, inclusive=False), "peak_qps must be a finite number > 0")
    _require(_ok(qps_per_replica, 0, inclusive=False), "qps_per_replica must be a finite number > 0")
    _require(_ok(headroom, 0, inclusive=True) and headroom < 1, "headroom must be in [0, 1)")
    _require(_ok(min_replicas, 1, inclusive=True), "min_replicas must be >= 1")
    _require(float(min_replicas).is_integer(), "min_replicas must be a whole number of replicas")
    usable = float(qps_per_replica) * (1 - float(headroom))
    return max(int(min_replicas), _in_float_range("replicas_needed", -(-float(peak_qps) // usable)).__int__())  # float64, even for np.float32 rates


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else float(v) if hasattr(v, "dtype") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    factors = (events_per_day, bytes_per_event, retention_days, replication)
    _require(all(f > 0 if type(f) is int else _ok(f, 0, inclusive=False) for f in factors),
             "every storage input must be a finite number > 0")  # plain ints are exact however large
    try:
        return math.ceil(math.prod(factors))
    except OverflowError:
        raise ValueError("a storage input too large for a float next to a float input") from None


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
