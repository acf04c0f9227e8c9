"""Task 2, alt style: no scipy, the standard library's erfc and NormalDist."""

from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _as_count(x) -> int:
    return int(x)  # NumPy integers become Python ints: no 64-bit wrap-around


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    sa, na, sb, nb = map(_as_count, (successes_a, n_a, successes_b, n_b))
    if min(na, nb) <= 0:
        raise ValueError("each variant needs at least one user")
    if sa not in range(na + 1) or sb not in range(nb + 1):
        raise ValueError("successes must lie in [0, n]")
    successes, users = sa + sb, na + nb
    if successes == 0 or successes == users:
        return (0.0, 1.0)
    pooled = successes / users
    variance = pooled * (1 - pooled) * (na + nb) / (na * nb)
    z = (sb / nb - sa / na) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    inside = lambda x: 0 < x < 1  # noqa: E731  (False for NaN)
    p1, d = baseline_rate, min_detectable_effect
    if not (inside(p1) and inside(alpha) and inside(power)):
        raise ValueError("baseline, alpha and power must lie in (0, 1)")
    if d == 0 or d != d:
        raise ValueError("the effect must be a non-zero number")
    p2 = p1 + d
    if not inside(p2):
        raise ValueError("baseline + effect must lie in (0, 1)")
    mean = (p1 + p2) / 2
    a = _STD.inv_cdf(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
    b = _STD.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / d**2)
