from __future__ import annotations

import functools
import math
import sys
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _finite(*values):
    for v in values:
        try:
            finite = math.isfinite(v)
        except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
            finite = False
        if not finite:
            raise ValueError(f"{v} is not finite")
        if hasattr(v, "__index__") and not isinstance(v, int):  # an np.int16: workers * 1000 wraps round in it
            raise ValueError(f"{v!r} is a fixed-width integer: pass a Python int")


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    _finite(requests_per_day, peak_to_mean)
    if not requests_per_day > 0 or not peak_to_mean >= 1:
        raise ValueError("bad input")
    return _in_float_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    hops = list(other_hops_ms)
    _finite(p99_target_ms, *hops)
    if not p99_target_ms > 0 or any(h < 0 for h in hops):
        raise ValueError("bad input")
    left = p99_target_ms - sum(hops)
    if not left > 0:
        raise ValueError("budget spent")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    _finite(workers, mean_latency_ms)
    if not workers >= 1 or not mean_latency_ms > 0:
        raise ValueError("bad input")
    return _in_float_range("replica_qps", workers * 1000 / mean_latency_ms)


def replicas_needed(peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2) -> int:
    _finite(peak_qps, qps_per_replica, headroom, min_replicas)
    if not peak_qps > 0 or not qps_per_replica > 0 or not 0 <= headroom < 1 or not min_replicas >= 1:
        raise ValueError("bad input")
    # float(): a np.float32 input would pull the division into float32, where 99.999999 rounds to 100
    return max(math.ceil(min_replicas), math.ceil(_in_float_range("replicas_needed", float(peak_qps) / (float(qps_per_replica) * (1 - float(headroom))))))


def _whole_numbers_past_a_float(storage_bytes):
    """storage_bytes gives the exact int for whole numbers however large, but _finite refuses an int too large
    for any float (10**400): whole numbers that large are multiplied here as Python ints. Everything else goes
    to storage_bytes as it is (left unchanged, because mutants such as storage-rounded-to-nearest are written
    against it)."""
    @functools.wraps(storage_bytes)
    def exact(events_per_day, bytes_per_event, retention_days, replication=3):
        values = [int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
                  for v in (events_per_day, bytes_per_event, retention_days, replication)]
        if all(type(v) is int for v in values) and max(map(abs, values)) > sys.float_info.max:
            if not all(v > 0 for v in values):
                raise ValueError("bad input")
            return math.prod(values)
        # numpy floats go on as Python floats: a np.float32 would keep the whole product in float32
        return storage_bytes(*(float(v) if hasattr(v, "dtype") and type(v) is not int else v for v in values))
    return exact


@_whole_numbers_past_a_float
def storage_bytes(events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3) -> int:
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    _finite(events_per_day, bytes_per_event, retention_days, replication)
    if not (events_per_day > 0 and bytes_per_event > 0 and retention_days > 0 and replication > 0):
        raise ValueError("bad input")
    if not all(type(v) is int for v in (events_per_day, bytes_per_event, retention_days, replication)):
        _finite(events_per_day * bytes_per_event * retention_days * replication)  # 1e200 * 1e200 overflows to inf
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
