"""Task 2 (alt): math.erfc and statistics.NormalDist instead of scipy."""
from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def _check(s, n):
    s, n = int(s), int(n)
    if n <= 0 or s < 0 or s > n:
        raise ValueError(f"bad counts {s}/{n}")
    return s, n


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    sa, na = _check(successes_a, n_a)
    sb, nb = _check(successes_b, n_b)
    hits, users = sa + sb, na + nb
    if hits == 0 or hits == users:
        return 0.0, 1.0
    p = hits / users
    se = math.sqrt(p * (1 - p) * (na + nb) / na / nb)
    z = (sb / nb - sa / na) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    for v in (baseline_rate, alpha, power):
        if not 0 < v < 1:
            raise ValueError("rate outside (0, 1)")
    if not min_detectable_effect != 0 or math.isnan(min_detectable_effect):
        raise ValueError("effect 0")
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    if not 0 < p2 < 1:
        raise ValueError("p2 outside (0, 1)")
    pbar = (p1 + p2) / 2
    a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
    b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / min_detectable_effect ** 2)
