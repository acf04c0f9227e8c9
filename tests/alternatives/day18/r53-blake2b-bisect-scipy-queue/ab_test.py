"""Task 2."""
from __future__ import annotations

import math

from scipy.stats import norm


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    sa, na, sb, nb = int(successes_a), int(n_a), int(successes_b), int(n_b)
    for s, n in ((sa, na), (sb, nb)):
        if not n > 0 or not 0 <= s <= n:
            raise ValueError("bad counts")
    p = (sa + sb) / (na + nb)
    if not 0 < p < 1:
        return 0.0, 1.0
    se = math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
    z = (sb / nb - sa / na) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    p1 = baseline_rate
    eff = min_detectable_effect
    if not 0 < p1 < 1:
        raise ValueError("baseline")
    if eff == 0 or eff != eff:
        raise ValueError("effect")
    p2 = p1 + eff
    if not 0 < p2 < 1:
        raise ValueError("p2")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha/power")
    pbar = (p1 + p2) / 2
    num = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
           + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return int(math.ceil(num / eff ** 2))
