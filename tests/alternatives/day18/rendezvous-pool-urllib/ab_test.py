"""Standard-library statistics: NormalDist for quantiles, erfc for the tails."""

import math
from statistics import NormalDist

_STD = NormalDist()


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if n <= 0:
            raise ValueError("group size must be positive")
        if s < 0 or s > n:
            raise ValueError("successes must lie between 0 and n")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    p = (successes_a + successes_b) / (n_a + n_b)
    var = p * (1.0 - p) * (1.0 / n_a + 1.0 / n_b)
    if var <= 0.0:
        return 0.0, 1.0
    z = (rate_b - rate_a) / math.sqrt(var)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    checks = {"baseline_rate": baseline_rate, "alpha": alpha, "power": power,
              "baseline_rate + effect": baseline_rate + min_detectable_effect}
    for label, value in checks.items():
        if not (0.0 < value < 1.0):
            raise ValueError(f"{label} must be strictly between 0 and 1")
    if not min_detectable_effect or min_detectable_effect != min_detectable_effect:
        raise ValueError("effect must be non-zero")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    mid = 0.5 * (p1 + p2)
    a = _STD.inv_cdf(1.0 - alpha / 2.0) * math.sqrt(2.0 * mid * (1.0 - mid))
    b = _STD.inv_cdf(power) * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return int(math.ceil((a + b) ** 2 / min_detectable_effect ** 2))
