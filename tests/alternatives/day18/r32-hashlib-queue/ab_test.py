from __future__ import annotations

import math

from scipy.stats import norm


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if not n > 0 or not 0 <= s <= n:
            raise ValueError("impossible counts")
    p = (successes_a + successes_b) / (n_a + n_b)
    if not 0 < p < 1:
        return 0.0, 1.0
    se = math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))
    z = (successes_b / n_b - successes_a / n_a) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1 = baseline_rate
    if not 0 < p1 < 1:
        raise ValueError("baseline")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha/power")
    if min_detectable_effect == 0 or math.isnan(min_detectable_effect):
        raise ValueError("effect")
    p2 = p1 + min_detectable_effect
    if not 0 < p2 < 1:
        raise ValueError("p2")
    pbar = (p1 + p2) / 2
    num = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
           + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return int(math.ceil(num / min_detectable_effect ** 2))
