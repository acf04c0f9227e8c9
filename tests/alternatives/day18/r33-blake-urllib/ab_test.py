"""Standard library only: statistics.NormalDist for quantiles, math.erfc for tails."""
from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

_N = NormalDist()


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    counts = [int(c) for c in (successes_a, n_a, successes_b, n_b)]
    sa, na, sb, nb = counts
    for s, n in ((sa, na), (sb, nb)):
        if n <= 0 or s < 0 or s > n:
            raise ValueError(f"impossible counts {s}/{n}")
    pooled = Fraction(sa + sb, na + nb)
    if pooled == 0 or pooled == 1:
        return (0.0, 1.0)
    diff = Fraction(sb, nb) - Fraction(sa, na)
    var = pooled * (1 - pooled) * (Fraction(1, na) + Fraction(1, nb))
    z = float(diff) / math.sqrt(float(var))
    return z, math.erfc(abs(z) / math.sqrt(2))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    p1 = float(baseline_rate)
    d = float(min_detectable_effect)
    alpha, power = float(alpha), float(power)
    checks = [0 < p1 < 1, d != 0 and d == d, 0 < alpha < 1, 0 < power < 1]
    if not all(checks):
        raise ValueError("invalid inputs")
    p2 = p1 + d
    if not 0 < p2 < 1:
        raise ValueError("p2 outside (0, 1)")
    m = (p1 + p2) / 2
    a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * m * (1 - m))
    b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / d**2)
