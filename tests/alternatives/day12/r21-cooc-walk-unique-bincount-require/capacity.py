"""Back-of-envelope capacity planning, with the checks written as one table per function."""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _require(**checks) -> None:
    for name, (value, ok) in checks.items():
        try:
            good = math.isfinite(value) and ok(value)
        except (TypeError, OverflowError):  # not a number, or an int too large for any float (10**400)
            good = False
        if not good:
            raise ValueError(f"bad {name}: {value!r}")


def _positive(x):
    return x > 0


def _whole_at_least_one(x):
    return x >= 1 and float(x).is_integer()


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _require(requests_per_day=(requests_per_day, _positive), peak_to_mean=(peak_to_mean, lambda x: x >= 1))
    mean = requests_per_day / SECONDS_PER_DAY
    return _in_float_range("peak_qps", mean * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    _require(p99_target_ms=(p99_target_ms, _positive))
    spent = 0.0
    for index, hop in enumerate(other_hops_ms):
        _require(**{f"hop_{index}": (hop, lambda x: x >= 0)})
        spent += hop
    left = p99_target_ms - spent
    if left <= 0:
        raise ValueError(f"the other hops take {spent} ms of a {p99_target_ms} ms target")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _require(workers=(workers, _whole_at_least_one), mean_latency_ms=(mean_latency_ms, _positive))
    return _in_float_range("replica_qps", workers / (mean_latency_ms / 1000))


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    _require(
        peak_qps=(peak_qps, _positive),
        qps_per_replica=(qps_per_replica, _positive),
        headroom=(headroom, lambda x: 0 <= x < 1),
        min_replicas=(min_replicas, lambda x: x >= 1),
    )
    usable = float(qps_per_replica) * (1 - float(headroom))
    needed = int(_in_float_range("replicas_needed", -(-float(peak_qps) // usable)))  # Python floats: a np.float32 rate would divide in float32
    return max(math.ceil(min_replicas), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else float(v) if hasattr(v, "dtype") else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    if all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication)):
        # whole numbers: an exact int however large, so only the sign is checked
        if min(events_per_day, bytes_per_event, retention_days, replication) < 1:
            raise ValueError("every storage input must be > 0")
        return events_per_day * bytes_per_event * retention_days * replication
    _require(
        events_per_day=(events_per_day, _positive),
        bytes_per_event=(bytes_per_event, _positive),
        retention_days=(retention_days, _positive),
        replication=(replication, _positive),
    )
    total = events_per_day * bytes_per_event * retention_days * replication
    if not math.isfinite(total):  # finite inputs whose product is past any float (1e200 * 1e200)
        raise ValueError(f"bad storage total: {total!r}")
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
