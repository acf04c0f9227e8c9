from __future__ import annotations

import math

from scipy.stats import norm


def _check(s, n):
    if not n > 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= s <= n:
        raise ValueError(f"successes {s} outside [0, {n}]")


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    sa, na, sb, nb = (int(x) for x in (successes_a, n_a, successes_b, n_b))
    _check(sa, na)
    _check(sb, nb)
    pooled = (sa + sb) / (na + nb)
    if pooled <= 0 or pooled >= 1:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    z = (sb / nb - sa / na) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    p1, effect = baseline_rate, min_detectable_effect
    if not 0 < p1 < 1:
        raise ValueError("baseline outside (0, 1)")
    if not (effect > 0 or effect < 0):
        raise ValueError("effect must be non-zero")
    p2 = p1 + effect
    if not 0 < p2 < 1:
        raise ValueError("p2 outside (0, 1)")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be in (0, 1)")
    pbar = (p1 + p2) / 2
    num = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
           + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return int(math.ceil(num / effect**2))
