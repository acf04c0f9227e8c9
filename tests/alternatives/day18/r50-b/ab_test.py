"""Task 2, with the standard library's statistics.NormalDist and math.erfc."""
from __future__ import annotations

import math
import operator
from statistics import NormalDist

_N = NormalDist()


def _count(x):
    return operator.index(x)  # numpy ints become Python ints (no 64-bit wrap-around)


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    sa, na, sb, nb = map(_count, (successes_a, n_a, successes_b, n_b))
    if na <= 0 or nb <= 0:
        raise ValueError("every group needs at least one user")
    if not (0 <= sa <= na and 0 <= sb <= nb):
        raise ValueError("successes must lie in [0, n]")
    hits, users = sa + sb, na + nb
    if hits == 0 or hits == users:
        return 0.0, 1.0
    pooled = hits / users
    se = math.sqrt(pooled * (1 - pooled) * (na + nb) / na / nb)
    z = (sb / nb - sa / na) / se
    p = math.erfc(abs(z) / math.sqrt(2))  # = 2 * upper tail, no 1 - cdf cancellation
    return z, p


def _open_unit(x):
    return isinstance(x, (int, float)) and 0 < x < 1


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    p1, d = baseline_rate, min_detectable_effect
    if not _open_unit(p1):
        raise ValueError("baseline must be in (0, 1)")
    if math.isnan(d) or d == 0:
        raise ValueError("effect must be non-zero")
    p2 = p1 + d
    if not _open_unit(p2):
        raise ValueError("baseline + effect must be in (0, 1)")
    if not (_open_unit(alpha) and _open_unit(power)):
        raise ValueError("alpha and power must be in (0, 1)")
    mean = (p1 + p2) / 2
    a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
    b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / d ** 2)
