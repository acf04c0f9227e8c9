"""Back-of-envelope capacity planning: traffic → latency budget → replicas → storage.

Contract (the tests check exactly this; every bad input raises ValueError, and NaN or
infinity is a bad input for every parameter, like an int too large for any float (10**400),
except that storage_bytes counts whole numbers exactly however large):
- `peak_qps(requests_per_day, peak_to_mean=3.0)`: requests_per_day / 86,400 × peak_to_mean.
  requests_per_day must be > 0 and peak_to_mean >= 1; a huge finite forecast (1e308) gives a finite rate.
  A result past a float's range from finite inputs (here, in replica_qps and replicas_needed) raises ValueError.
- `latency_budget_ms(p99_target_ms, other_hops_ms)`: what is left of the end-to-end p99
  target after the other hops' p99s: target − sum(hops). Target > 0, each hop >= 0, and
  the result must be > 0.
- `replica_qps(workers, mean_latency_ms)`: one replica's throughput by Little's law,
  workers × 1000 / mean_latency_ms. workers >= 1 (an int), latency > 0.
- `replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2)`: replicas
  run at most at (1 − headroom) of their throughput, so
  max(min_replicas, ceil(peak_qps / (qps_per_replica × (1 − headroom)))), an int (a float
  min_replicas such as 3.0 may raise ValueError but never comes back as a float); a np.float32 input is
  divided in float64, never float32.
  peak_qps > 0, qps_per_replica > 0, 0 <= headroom < 1, min_replicas >= 1 (an int).
- `storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3)`:
  ceil(events_per_day × bytes_per_event × retention_days × replication). All > 0;
  retention_days and replication are ints; numpy integers are multiplied as Python ints (no wrap), a
  np.float32 as the float it holds (never multiplied in float32).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    """Size for the busiest second, not the average one: traffic follows the sun."""
    _positive("requests_per_day", requests_per_day)
    if not (peak_to_mean >= 1 and _finite(peak_to_mean)):  # also rejects NaN and infinity
        raise ValueError(f"peak_to_mean is at least 1 (the peak is never below the mean), got {peak_to_mean}")
    return _in_range("peak_qps", requests_per_day / SECONDS_PER_DAY * peak_to_mean)


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    """Adding p99s overstates the total, which is the safe side for a budget."""
    _positive("p99_target_ms", p99_target_ms)
    for hop in other_hops_ms:
        if not (hop >= 0 and _finite(hop)):
            raise ValueError(f"a hop's latency is a finite number >= 0, got {hop}")
    spent = math.fsum(other_hops_ms)   # as floats: sum() would add numpy int8 hops up in int8, where 100 + 100 wraps
    left = p99_target_ms - spent
    if left <= 0:
        raise ValueError(f"the other hops already use {spent} ms of the {p99_target_ms} ms target")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    """Little's law: requests in flight = throughput × time in system, so throughput = workers / time."""
    _whole("workers", workers)
    if not _finite(workers):
        raise ValueError(f"workers must fit in a float, got an int of {len(str(workers))} digits")
    _positive("mean_latency_ms", mean_latency_ms)
    return _in_range("replica_qps", workers * 1000.0 / mean_latency_ms)


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    """Round up, keep spare capacity for spikes and a lost replica, never go below the floor."""
    peak_qps, qps_per_replica, headroom = map(_plain_float, (peak_qps, qps_per_replica, headroom))
    _positive("peak_qps", peak_qps)
    _positive("qps_per_replica", qps_per_replica)
    if not 0 <= headroom < 1:
        raise ValueError(f"headroom is the fraction of capacity kept free, in [0, 1), got {headroom}")
    _whole("min_replicas", min_replicas)
    usable = qps_per_replica * (1 - headroom)
    if usable == 0:  # a subnormal throughput times the free share rounds to 0
        raise ValueError(f"{qps_per_replica} QPS per replica at {headroom} headroom leaves nothing usable")
    return max(min_replicas, math.ceil(_in_range("replicas_needed", peak_qps / usable)))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    """Raw bytes on disk over the retention window, counting every replica."""
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else _plain_float(v)
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    _amount("events_per_day", events_per_day)
    _amount("bytes_per_event", bytes_per_event)
    _whole("retention_days", retention_days)
    _whole("replication", replication)
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # an int too large for a float times a float: refused like infinity
        raise ValueError("the plan is past the range of a float: give whole numbers for an exact int") from None


def _plain_float(value):
    """A NumPy float (an np.float32 column) as the Python float it holds: kept as it is, it would pull a whole
    division or product into float32 (99.999999 QPS rounds to 100)."""
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, (numbers.Rational, float)) else value


def _in_range(name: str, result: float) -> float:
    """A result from finite inputs that overflowed to inf (1e308 QPS on 1e-10 QPS replicas) is refused, not returned
    as inf nor left to math.ceil's OverflowError."""
    if not math.isfinite(result):
        raise ValueError(f"{name} is past the range of a float for these inputs")
    return result


def _positive(name: str, value: float) -> None:
    if not (value > 0 and _finite(value)):  # also rejects NaN, infinity and ints too large for a float
        raise ValueError(f"{name} must be a finite number greater than 0, got {str(value)[:20]}")


def _amount(name: str, value: float) -> None:
    """A storage amount: a whole number is multiplied exactly, however large; anything else must be a finite float."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{name} must be greater than 0, got {value}")
    else:
        _positive(name, value)


def _finite(value: float) -> bool:
    """math.isfinite, but False for an int too large for a float (10**400): a bad input like infinity."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _whole(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
