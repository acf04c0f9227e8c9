"""Back-of-envelope capacity planning: traffic → latency budget → replicas → storage.

Contract (the tests check exactly this; every bad input raises ValueError, and NaN or
infinity is a bad input for every parameter, like an int too large for any float (10**400),
except that storage_bytes counts whole numbers exactly however large and replicas_needed may
return such a min_replicas; numpy integers never wrap round in their own type; a result past a float's range
from finite inputs, such as replicas_needed(1e308, 1e-10), raises ValueError (or is the exact int), never
OverflowError nor inf; a number given as text, such as "100", is a bad input too):
- `peak_qps(requests_per_day, peak_to_mean=3.0)`: requests_per_day / 86,400 × peak_to_mean.
  requests_per_day must be > 0 and peak_to_mean >= 1; a huge finite forecast (1e308) gives a finite rate.
- `latency_budget_ms(p99_target_ms, other_hops_ms)`: what is left of the end-to-end p99
  target after the other hops' p99s: target − sum(hops). Target > 0, each hop >= 0, and
  the result must be > 0.
- `replica_qps(workers, mean_latency_ms)`: one replica's throughput by Little's law,
  workers × 1000 / mean_latency_ms. workers >= 1, latency > 0; a fractional workers (2.5) may raise
  ValueError, or counts as it is (never rounded down first).
- `replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2)`: replicas
  run at most at (1 − headroom) of their throughput, so
  max(min_replicas, ceil(peak_qps / (qps_per_replica × (1 − headroom)))), an int (a float
  min_replicas such as 3.0 or np.float32(3.0), or a numpy integer, may raise ValueError but never comes back as a float
  or a numpy integer; a fractional floor such as 2.5 is refused or rounded up, never down), rounded up however
  small the excess, and an exact fit needs no extra replica at any headroom (210 QPS on 100 QPS replicas at 0.3
  headroom is 3: divide by the product); a np.float32 input is divided in float64, never float32.
  peak_qps > 0, qps_per_replica > 0, 0 <= headroom < 1, min_replicas >= 1.
- `storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3)`:
  ceil(events_per_day × bytes_per_event × retention_days × replication), an int, exact however
  large for whole-number inputs (no 64-bit overflow, no float rounding) and rounded up however
  small the fraction, whichever inputs are floats (a np.float32 as the float it holds, never multiplied in
  float32), in any position. All > 0, floats too; a fractional retention_days or replication (2.5)
  may raise ValueError, or counts as it is (the product rounded up, never truncated to 2 first).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400


def _plain(value, name):
    """A plain int or float, or ValueError: text, NaN, infinity and huge ints are bad inputs."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        out = float(value)
    except (OverflowError, TypeError) as exc:
        raise ValueError(f"{name} is not a usable number") from exc
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite")
    return out


def _float(value, name):
    v = _plain(value, name)
    try:
        out = float(v)
    except OverflowError as exc:
        raise ValueError(f"{name} is too large for a float") from exc
    return out


def _finite(result, what):
    if not math.isfinite(result):
        raise ValueError(f"{what} is past a float's range")
    return result


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    """Size for the busiest second, not the average one: traffic follows the sun."""
    rpd = _float(requests_per_day, "requests_per_day")
    ptm = _float(peak_to_mean, "peak_to_mean")
    if not rpd > 0:
        raise ValueError("requests_per_day must be > 0")
    if not ptm >= 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _finite(rpd / SECONDS_PER_DAY * ptm, "peak QPS")


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    """Adding p99s overstates the total, which is the safe side for a budget."""
    target = _float(p99_target_ms, "p99_target_ms")
    if not target > 0:
        raise ValueError("p99_target_ms must be > 0")
    if isinstance(other_hops_ms, (str, bytes)):
        raise ValueError("other_hops_ms must be a sequence of numbers")
    try:
        hops = [_float(h, "hop") for h in other_hops_ms]
    except TypeError as exc:
        raise ValueError("other_hops_ms must be a sequence of numbers") from exc
    for h in hops:
        if not h >= 0:
            raise ValueError("every hop must be >= 0")
    budget = target - sum(hops)
    if not math.isfinite(budget) or not budget > 0:
        raise ValueError("the other hops leave no budget")
    return budget


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    """Little's law: requests in flight = throughput × time in system, so throughput = workers / time."""
    w = _float(workers, "workers")
    lat = _float(mean_latency_ms, "mean_latency_ms")
    if not w >= 1:
        raise ValueError("workers must be >= 1")
    if not lat > 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _finite(w * 1000 / lat, "replica QPS")


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    """Round up, keep spare capacity for spikes and a lost replica, never go below the floor."""
    peak = _float(peak_qps, "peak_qps")
    per = _float(qps_per_replica, "qps_per_replica")
    h = _float(headroom, "headroom")
    floor = _plain(min_replicas, "min_replicas")
    if not peak > 0:
        raise ValueError("peak_qps must be > 0")
    if not per > 0:
        raise ValueError("qps_per_replica must be > 0")
    if not 0 <= h < 1:
        raise ValueError("headroom must be in [0, 1)")
    if not floor >= 1:
        raise ValueError("min_replicas must be >= 1")
    floor = math.ceil(floor)
    usable = per * (1 - h)
    if not usable > 0:
        raise ValueError("usable capacity per replica underflows to zero")
    ratio = peak / usable
    if not math.isfinite(ratio):
        raise ValueError("replica count is past a float's range")
    return int(max(floor, math.ceil(ratio)))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    """Raw bytes on disk over the retention window, counting every replica."""
    names = ("events_per_day", "bytes_per_event", "retention_days", "replication")
    values = [_plain(v, n) for v, n in zip((events_per_day, bytes_per_event, retention_days, replication), names)]
    for v, n in zip(values, names):
        if not v > 0:
            raise ValueError(f"{n} must be > 0")
    if all(isinstance(v, int) for v in values):
        total = 1
        for v in values:
            total *= v
        return total
    product = 1.0
    try:
        for v in values:
            product *= float(v)
    except OverflowError as exc:
        raise ValueError("an input is too large for a float") from exc
    if not math.isfinite(product):
        raise ValueError("storage is past a float's range")
    return max(1, math.ceil(product))
