"""Task 2 with the statistics module."""
from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if n <= 0 or s < 0 or s > n:
            raise ValueError("impossible counts")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled in (0, 1):
        return 0.0, 1.0
    diff = successes_b / n_b - successes_a / n_a
    z = diff / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    # erfc keeps tiny tails
    p = math.erfc(abs(z) / math.sqrt(2))
    return z, p


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    for x in (baseline_rate, alpha, power):
        if not (0 < x < 1):
            raise ValueError("outside (0, 1)")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    if min_detectable_effect == 0 or not (0 < p2 < 1):
        raise ValueError("bad effect")
    pbar = (p1 + p2) / 2
    za = _N.inv_cdf(1 - alpha / 2)
    zb = _N.inv_cdf(power)
    n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(n / min_detectable_effect ** 2)
