"""Back-of-envelope capacity planning: traffic → latency budget → replicas → storage.

Contract (the tests check exactly this; every bad input raises ValueError, and NaN or
infinity is a bad input for every parameter, like an int too large for any float (10**400),
except that storage_bytes counts whole numbers exactly however large and replicas_needed may
return such a min_replicas; numpy integers never wrap round in their own type):
- `peak_qps(requests_per_day, peak_to_mean=3.0)`: requests_per_day / 86,400 × peak_to_mean.
  requests_per_day must be > 0 and peak_to_mean >= 1; a huge finite forecast (1e308) gives a finite rate.
- `latency_budget_ms(p99_target_ms, other_hops_ms)`: what is left of the end-to-end p99
  target after the other hops' p99s: target − sum(hops). Target > 0, each hop >= 0, and
  the result must be > 0.
- `replica_qps(workers, mean_latency_ms)`: one replica's throughput by Little's law,
  workers × 1000 / mean_latency_ms. workers >= 1 (an int), latency > 0.
- `replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2)`: replicas
  run at most at (1 − headroom) of their throughput, so
  max(min_replicas, ceil(peak_qps / (qps_per_replica × (1 − headroom)))), an int (a float
  min_replicas such as 3.0, or a numpy integer, may raise ValueError but never comes back as a float
  or a numpy integer), rounded up however small the excess; a np.float32 input is divided in float64, never float32.
  peak_qps > 0, qps_per_replica > 0, 0 <= headroom < 1, min_replicas >= 1 (an int).
- `storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3)`:
  ceil(events_per_day × bytes_per_event × retention_days × replication), an int, exact however
  large for whole-number inputs (no 64-bit overflow, no float rounding) and rounded up however
  small the fraction, whichever inputs are floats (a np.float32 as the float it holds, never multiplied in
  float32). All > 0;
  retention_days and replication are ints.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

SECONDS_PER_DAY = 86_400


def _real(value, name: str) -> float:
    """value as a finite Python float, or ValueError (NaN, infinity, too large for a float, not a number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    """Size for the busiest second, not the average one: traffic follows the sun."""
    requests = _real(requests_per_day, "requests_per_day")
    peak = _real(peak_to_mean, "peak_to_mean")
    if not requests > 0:
        raise ValueError("requests_per_day must be > 0")
    if not peak >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    rate = requests / SECONDS_PER_DAY * peak
    if not math.isfinite(rate):
        raise ValueError("the peak rate is too large for a float")
    return rate


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    """Adding p99s overstates the total, which is the safe side for a budget."""
    target = _real(p99_target_ms, "p99_target_ms")
    if not target > 0:
        raise ValueError("p99_target_ms must be > 0")
    hops = [_real(hop, "hop") for hop in other_hops_ms]
    if any(hop < 0 for hop in hops):
        raise ValueError("a hop cannot take negative time")
    budget = target - math.fsum(hops)
    if not budget > 0:
        raise ValueError(f"the other hops spend the whole target ({budget} ms left)")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    """Little's law: requests in flight = throughput × time in system, so throughput = workers / time."""
    count = _real(workers, "workers")
    latency = _real(mean_latency_ms, "mean_latency_ms")
    if not count >= 1:
        raise ValueError("workers must be >= 1")
    if not latency > 0:
        raise ValueError("mean_latency_ms must be > 0")
    rate = count * 1000 / latency
    if not math.isfinite(rate):
        raise ValueError("the throughput is too large for a float")
    return rate


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    """Round up, keep spare capacity for spikes and a lost replica, never go below the floor."""
    peak = _real(peak_qps, "peak_qps")
    per_replica = _real(qps_per_replica, "qps_per_replica")
    spare = _real(headroom, "headroom")
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, numbers.Integral):
        if isinstance(min_replicas, numbers.Real) and float(min_replicas).is_integer():
            floor = int(min_replicas)
        else:
            raise ValueError(f"min_replicas must be a whole number, got {min_replicas!r}")
    else:
        floor = int(min_replicas)
    if not peak > 0 or not per_replica > 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= spare < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    ratio = peak / (per_replica * (1 - spare))
    if not math.isfinite(ratio):
        raise ValueError("the load is too large for a float")
    return max(floor, math.ceil(ratio))


def _exact(value, name: str):
    """A whole number as an int, any other finite number as the exact Fraction of the float it holds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    return Fraction(_real(value, name))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    """Raw bytes on disk over the retention window, counting every replica."""
    factors = [
        _exact(events_per_day, "events_per_day"),
        _exact(bytes_per_event, "bytes_per_event"),
        _exact(retention_days, "retention_days"),
        _exact(replication, "replication"),
    ]
    if any(not factor > 0 for factor in factors):
        raise ValueError("every storage input must be > 0")
    product = math.prod(factors)
    return math.ceil(product)
