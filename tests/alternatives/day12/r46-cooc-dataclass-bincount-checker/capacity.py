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
import operator
from collections.abc import Sequence

import numpy as np

SECONDS_PER_DAY = 86_400


class _Checked:
    """Turns one input into a plain Python number and checks it, raising ValueError for anything bad."""

    def __init__(self, name: str, value):
        self.name = name
        if isinstance(value, (np.integer, np.floating)):
            value = value.item()          # numpy scalar -> the Python int or float it holds
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: {value!r} is not a number")
        self.value = value

    def as_float(self) -> float:
        try:
            number = float(self.value)
        except OverflowError:
            raise ValueError(f"{self.name}: {self.value!r} is too large") from None
        if math.isnan(number) or math.isinf(number):
            raise ValueError(f"{self.name}: {self.value!r} is not finite")
        return number


def _positive(name, value) -> float:
    number = _Checked(name, value).as_float()
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    """Size for the busiest second, not the average one: traffic follows the sun."""
    per_day = _positive("requests_per_day", requests_per_day)
    ratio = _Checked("peak_to_mean", peak_to_mean).as_float()
    if ratio < 1:
        raise ValueError("peak_to_mean must be >= 1")
    mean_per_second = per_day / SECONDS_PER_DAY
    peak = mean_per_second * ratio
    if math.isinf(peak):
        raise ValueError("the peak rate overflows a float")
    return peak


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    """Adding p99s overstates the total, which is the safe side for a budget."""
    budget = _positive("p99_target_ms", p99_target_ms)
    spent = 0.0
    for index, hop in enumerate(np.asarray(other_hops_ms, dtype=object).ravel().tolist()):
        hop_ms = _Checked(f"hop {index}", hop).as_float()
        if hop_ms < 0:
            raise ValueError(f"hop {index} is negative: {hop!r}")
        spent += hop_ms
    left = budget - spent
    if left <= 0:
        raise ValueError(f"nothing left for the model: {left} ms")
    return left


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    """Little's law: requests in flight = throughput × time in system, so throughput = workers / time."""
    checked = _Checked("workers", workers)
    if not isinstance(checked.value, int):
        raise ValueError(f"workers must be a whole number, got {workers!r}")
    n_workers = checked.as_float()
    if n_workers < 1:
        raise ValueError("workers must be >= 1")
    seconds = _positive("mean_latency_ms", mean_latency_ms) / 1000
    throughput = n_workers / seconds
    if math.isinf(throughput):
        raise ValueError("the throughput overflows a float")
    return throughput


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    """Round up, keep spare capacity for spikes and a lost replica, never go below the floor."""
    load = _positive("peak_qps", peak_qps)
    capacity = _positive("qps_per_replica", qps_per_replica)
    spare = _Checked("headroom", headroom).as_float()
    if not 0 <= spare < 1:
        raise ValueError("headroom must be in [0, 1)")
    floor = _Checked("min_replicas", min_replicas)
    if isinstance(floor.value, float):
        if floor.as_float() < 1:
            raise ValueError("min_replicas must be >= 1")
        floor_int = math.ceil(floor.value)    # a fractional floor rounds up
    else:
        floor_int = floor.value
    if floor_int < 1:
        raise ValueError("min_replicas must be >= 1")
    usable = capacity * (1 - spare)
    replicas = load / usable
    if math.isinf(replicas):
        raise ValueError("the load overflows a float")
    return max(floor_int, math.ceil(replicas))


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    """Raw bytes on disk over the retention window, counting every replica."""
    inputs = [_Checked(name, value) for name, value in (
        ("events_per_day", events_per_day), ("bytes_per_event", bytes_per_event),
        ("retention_days", retention_days), ("replication", replication))]
    if all(isinstance(item.value, int) for item in inputs):
        if any(item.value <= 0 for item in inputs):
            raise ValueError("every storage input must be > 0")
        total = 1
        for item in inputs:
            total *= item.value
        return total
    numbers = [item.as_float() for item in inputs]
    if any(number <= 0 for number in numbers):
        raise ValueError("every storage input must be > 0")
    product = numbers[0] * numbers[1] * numbers[2] * numbers[3]
    if math.isinf(product):
        raise ValueError("the plan is too large to size in floats")
    return math.ceil(product)
