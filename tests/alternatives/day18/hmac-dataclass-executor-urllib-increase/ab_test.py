"""Standard library only: math.erfc for the tail, statistics.NormalDist for quantiles."""
from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if n <= 0 or s < 0 or s > n:
            raise ValueError("need n > 0 and 0 <= successes <= n")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if pooled in (0, 1) or variance == 0:
        return 0.0, 1.0
    z = (rate_b - rate_a) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def _unit(name, x):
    if not (0 < x < 1):
        raise ValueError(f"{name} must be in (0, 1), got {x}")


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    _unit("baseline_rate", baseline_rate)
    _unit("alpha", alpha)
    _unit("power", power)
    if not min_detectable_effect or min_detectable_effect != min_detectable_effect:
        raise ValueError("effect must be a non-zero number")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    _unit("baseline + effect", p2)
    mean = (p1 + p2) / 2
    a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
    b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / min_detectable_effect**2)
