"""Task 2 with the standard library only (math.erfc, statistics.NormalDist)."""
from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

_N = NormalDist()


def _upper_tail(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    sa, na, sb, nb = (int(v) for v in (successes_a, n_a, successes_b, n_b))
    for s, n in ((sa, na), (sb, nb)):
        if n <= 0 or s < 0 or s > n:
            raise ValueError("successes must be within [0, n] and n > 0")
    pooled = Fraction(sa + sb, na + nb)
    if pooled == 0 or pooled == 1:
        return 0.0, 1.0
    var = pooled * (1 - pooled) * (Fraction(1, na) + Fraction(1, nb))
    diff = Fraction(sb, nb) - Fraction(sa, na)
    z = float(diff) / math.sqrt(float(var))
    return z, 2 * _upper_tail(abs(z))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1, d = baseline_rate, min_detectable_effect
    checks = [0 < p1 < 1, d == d and d != 0, 0 < alpha < 1, 0 < power < 1]
    if not all(checks):
        raise ValueError("invalid arguments")
    p2 = p1 + d
    if not 0 < p2 < 1:
        raise ValueError("p2 outside (0, 1)")
    pbar = (p1 + p2) / 2
    term = (_N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
            + _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))
    return math.ceil(term * term / (d * d))
