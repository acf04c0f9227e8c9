"""Task 2 with scipy.stats.norm."""

from __future__ import annotations

import math

from scipy.stats import norm


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if not (n > 0 and 0 <= s <= n):
            raise ValueError("need n > 0 and 0 <= successes <= n")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z = (successes_b / n_b - successes_a / n_a) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return z, float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    if not all(0 < x < 1 for x in (p1, p2, alpha, power)) or not min_detectable_effect != 0:
        raise ValueError("rates, alpha and power must be in (0, 1), the effect non-zero")
    p_bar = (p1 + p2) / 2
    root = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * p_bar * (1 - p_bar))
            + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))
    return math.ceil(root ** 2 / min_detectable_effect ** 2)
