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
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SECONDS_PER_DAY = 86_400
_FLOAT_MAX = Fraction(np.finfo(np.float64).max)


def _exact(value, name) -> Fraction:
    """Read a number exactly as a Fraction; text, NaN, infinity and odd types are ValueError."""
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return Fraction(f)
    raise ValueError(f"{name} must be a number, got {value!r}")


def _bounded(value, name) -> Fraction:
    """Like _exact, but an int no float can hold is a bad input too."""
    x = _exact(value, name)
    if abs(x) > _FLOAT_MAX:
        raise ValueError(f"{name} is too large for a float")
    return x


def _as_float(x: Fraction, what: str) -> float:
    if abs(x) > _FLOAT_MAX:
        raise ValueError(f"{what} is past a float's range")
    return float(x)


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    rpd = _bounded(requests_per_day, "requests_per_day")
    ptm = _bounded(peak_to_mean, "peak_to_mean")
    if rpd <= 0:
        raise ValueError("requests_per_day must be > 0")
    if ptm < 1:
        raise ValueError("peak_to_mean must be >= 1")
    return _as_float(rpd / SECONDS_PER_DAY * ptm, "peak QPS")


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    target = _bounded(p99_target_ms, "p99_target_ms")
    if target <= 0:
        raise ValueError("p99_target_ms must be > 0")
    if isinstance(other_hops_ms, (str, bytes)) or not hasattr(other_hops_ms, "__iter__"):
        raise ValueError("other_hops_ms must be a sequence of numbers")
    spent = Fraction(0)
    for hop in other_hops_ms:
        h = _bounded(hop, "hop")
        if h < 0:
            raise ValueError("a hop cannot take negative time")
        spent += h
    left = target - spent
    if left <= 0:
        raise ValueError("the other hops already spend the whole target")
    return _as_float(left, "latency budget")


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    w = _bounded(workers, "workers")
    lat = _bounded(mean_latency_ms, "mean_latency_ms")
    if w < 1:
        raise ValueError("workers must be >= 1")
    if lat <= 0:
        raise ValueError("mean_latency_ms must be > 0")
    return _as_float(w * 1000 / lat, "replica QPS")


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    peak = _bounded(peak_qps, "peak_qps")
    per = _bounded(qps_per_replica, "qps_per_replica")
    h = _bounded(headroom, "headroom")
    floor = _exact(min_replicas, "min_replicas")
    if peak <= 0 or per <= 0:
        raise ValueError("peak_qps and qps_per_replica must be > 0")
    if not 0 <= h < 1:
        raise ValueError("headroom must be in [0, 1)")
    if floor < 1:
        raise ValueError("min_replicas must be >= 1")
    # usable capacity as the float product, the way anyone checks it on paper
    usable = Fraction(float(per) * (1 - float(h))) if h else per
    if usable <= 0:
        raise ValueError("usable capacity per replica is zero")
    needed = math.ceil(peak / usable)
    if needed > _FLOAT_MAX:
        raise ValueError("replica count is past a float's range")
    return max(math.ceil(floor), needed)


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    total = Fraction(1)
    for value, name in (
        (events_per_day, "events_per_day"),
        (bytes_per_event, "bytes_per_event"),
        (retention_days, "retention_days"),
        (replication, "replication"),
    ):
        x = _exact(value, name)
        if x <= 0:
            raise ValueError(f"{name} must be > 0")
        total *= x
    return math.ceil(total)
