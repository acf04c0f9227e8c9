from __future__ import annotations
import math
from statistics import NormalDist

_N = NormalDist()


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    counts = [int(x) for x in (successes_a, n_a, successes_b, n_b)]
    sa, na, sb, nb = counts
    for s, n in ((sa, na), (sb, nb)):
        if n <= 0 or s < 0 or s > n:
            raise ValueError("bad counts")
    hits, users = sa + sb, na + nb
    if hits == 0 or hits == users:
        return (0.0, 1.0)
    pooled = hits / users
    se = math.sqrt(pooled * (1 - pooled) * (users / (na * nb)))
    z = (sb / nb - sa / na) / se
    return (z, math.erfc(abs(z) / math.sqrt(2)))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    for name, v in (("baseline", baseline_rate), ("alpha", alpha), ("power", power)):
        if not 0 < v < 1:
            raise ValueError(name)
    p1 = baseline_rate
    d = min_detectable_effect
    p2 = p1 + d
    if d == 0 or not 0 < p2 < 1:
        raise ValueError("effect")
    pbar = (p1 + p2) / 2
    za = _N.inv_cdf(1 - alpha / 2)
    zb = _N.inv_cdf(power)
    top = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(top * top / (d * d))
