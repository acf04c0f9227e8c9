"""Task 2."""
from __future__ import annotations

import math

from scipy.stats import norm


def _check(s, n):
    s, n = int(s), int(n)
    if n <= 0 or not 0 <= s <= n:
        raise ValueError("bad counts")
    return s, n


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    sa, na = _check(successes_a, n_a)
    sb, nb = _check(successes_b, n_b)
    p = (sa + sb) / (na + nb)
    if p <= 0 or p >= 1:
        return 0.0, 1.0
    se = math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
    z = (sb / nb - sa / na) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1 = float(baseline_rate)
    eff = float(min_detectable_effect)
    if not 0 < p1 < 1:
        raise ValueError("baseline")
    if not math.isfinite(eff) or eff == 0:
        raise ValueError("effect")
    p2 = p1 + eff
    if not 0 < p2 < 1:
        raise ValueError("p2")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha/power")
    pbar = (p1 + p2) / 2
    za = norm.ppf(1 - alpha / 2)
    zb = norm.ppf(power)
    n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / eff ** 2
    return int(math.ceil(n))
