"""Task 2: is the difference between two variants real, and how many users do we need?

Contract (the tests check exactly this):
- `two_proportion_z_test(successes_a, n_a, successes_b, n_b) -> (z, p_value)`: the pooled
  two-proportion z statistic of b minus a and its two-sided p-value, as statsmodels'
  `proportions_ztest`; `(0.0, 1.0)` when the pooled rate is 0 or 1. `n <= 0` or successes
  outside [0, n] raise ValueError.
- `samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8) -> int`:
  users per variant for a two-sided test, p1 = baseline, p2 = baseline + effect (absolute),
  p̄ = (p1 + p2) / 2,
  n = ceil((z(1-alpha/2)·sqrt(2·p̄(1-p̄)) + z(power)·sqrt(p1(1-p1) + p2(1-p2)))² / effect²).
  Rates outside (0, 1), an effect of 0 or p2 outside (0, 1), alpha or power outside (0, 1)
  raise ValueError.
"""

from __future__ import annotations


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    """Pooled z statistic of b minus a, and its two-sided p-value."""
    # TODO(task 2): validate, pool the rates, z = (p_b - p_a) / se, p = two-sided tail.
    raise NotImplementedError("task 2")


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    """Users each variant needs to detect an absolute change of `min_detectable_effect`."""
    # TODO(task 2): validate, then the formula above, rounded up.
    raise NotImplementedError("task 2")
