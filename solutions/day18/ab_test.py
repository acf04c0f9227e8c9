"""Task 2: is the difference between two variants real, and how many users do we need?

Contract (the tests check exactly this):
- `two_proportion_z_test(successes_a, n_a, successes_b, n_b) -> (z, p_value)`: the pooled
  two-proportion z statistic of b minus a and its two-sided p-value, as statsmodels'
  `proportions_ztest`; `(0.0, 1.0)` when the pooled rate is 0 or 1. `n <= 0` or successes
  outside [0, n] raise ValueError.
- `samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8) -> int`:
  users per variant for a two-sided test, p1 = baseline, p2 = baseline + effect,
  p̄ = (p1 + p2) / 2,
  n = ceil((z(1-alpha/2)·sqrt(2·p̄(1-p̄)) + z(power)·sqrt(p1(1-p1) + p2(1-p2)))² / effect²).
  Rates outside (0, 1), an effect of 0 or p2 outside (0, 1), alpha or power outside (0, 1)
  raise ValueError.
"""

from __future__ import annotations

import math

from scipy.stats import norm


def _check_count(successes: int, n: int, name: str) -> None:
    if not n > 0:
        raise ValueError(f"n_{name} must be positive, got {n!r}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes_{name} must be within [0, n_{name}] = [0, {n}], got {successes!r}")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    """Pooled z test: under H0 both variants share one rate, so the standard error uses it."""
    _check_count(successes_a, n_a, "a")
    _check_count(successes_b, n_b, "b")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):  # no variance at all: no evidence of a difference
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (successes_b / n_b - successes_a / n_a) / se
    # sf, not 1 - cdf: it keeps tiny p-values instead of rounding them to 0.
    return float(z), float(2 * norm.sf(abs(z)))


def _open_unit(value: float, what: str) -> None:
    if not 0 < value < 1:  # also rejects NaN
        raise ValueError(f"{what} must be within (0, 1), got {value!r}")


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    """Users each variant needs to detect an absolute change of `min_detectable_effect`."""
    _open_unit(baseline_rate, "baseline_rate")
    _open_unit(alpha, "alpha")
    _open_unit(power, "power")
    if min_detectable_effect == 0 or math.isnan(min_detectable_effect):
        raise ValueError(f"min_detectable_effect must be non-zero, got {min_detectable_effect!r}")
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    _open_unit(p2, "baseline_rate + min_detectable_effect")
    p_bar = (p1 + p2) / 2
    numerator = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * p_bar * (1 - p_bar))
                 + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(numerator / min_detectable_effect**2)
