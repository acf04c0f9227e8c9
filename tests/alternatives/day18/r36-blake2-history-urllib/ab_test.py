from __future__ import annotations
from fractions import Fraction
import math
from statistics import NormalDist

_N = NormalDist()


def _upper_tail(x):
    return 0.5 * math.erfc(x / math.sqrt(2))


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    counts = [int(c) for c in (successes_a, n_a, successes_b, n_b)]
    sa, na, sb, nb = counts
    if na <= 0 or nb <= 0:
        raise ValueError("n must be positive")
    if not (0 <= sa <= na and 0 <= sb <= nb):
        raise ValueError("successes outside [0, n]")
    pooled = Fraction(sa + sb, na + nb)
    if pooled == 0 or pooled == 1:
        return (0.0, 1.0)
    var = pooled * (1 - pooled) * (Fraction(1, na) + Fraction(1, nb))
    diff = Fraction(sb, nb) - Fraction(sa, na)
    z = float(diff) / math.sqrt(float(var))
    return (z, 2 * _upper_tail(abs(z)))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    p1, d = float(baseline_rate), float(min_detectable_effect)
    checks = [0 < p1 < 1, 0 < alpha < 1, 0 < power < 1, d != 0 and not math.isnan(d)]
    if not all(checks):
        raise ValueError("invalid arguments")
    p2 = p1 + d
    if not 0 < p2 < 1:
        raise ValueError("baseline + effect outside (0, 1)")
    mid = (p1 + p2) / 2
    a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * mid * (1 - mid))
    b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / d ** 2)
