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

from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def peak_qps(requests_per_day: float, peak_to_mean: float = 3.0) -> float:
    """Size for the busiest second, not the average one: traffic follows the sun."""
    # TODO(task 3): validate, then the mean rate per second times the peak-to-mean ratio.
    raise NotImplementedError("task 3")


def latency_budget_ms(p99_target_ms: float, other_hops_ms: Sequence[float]) -> float:
    """Adding p99s overstates the total, which is the safe side for a budget."""
    # TODO(task 3): validate, subtract the other hops, refuse a budget that is already spent.
    raise NotImplementedError("task 3")


def replica_qps(workers: int, mean_latency_ms: float) -> float:
    """Little's law: requests in flight = throughput × time in system, so throughput = workers / time."""
    # TODO(task 3): validate, then workers per second of mean latency.
    raise NotImplementedError("task 3")


def replicas_needed(
    peak_qps: float, qps_per_replica: float, headroom: float = 0.3, min_replicas: int = 2
) -> int:
    """Round up, keep spare capacity for spikes and a lost replica, never go below the floor."""
    # TODO(task 3): validate; usable capacity per replica is qps_per_replica * (1 - headroom).
    raise NotImplementedError("task 3")


def storage_bytes(
    events_per_day: float, bytes_per_event: float, retention_days: int, replication: int = 3
) -> int:
    """Raw bytes on disk over the retention window, counting every replica."""
    # TODO(task 3): validate, multiply, round up to whole bytes.
    raise NotImplementedError("task 3")
