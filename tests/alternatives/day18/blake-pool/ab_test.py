from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _inside_unit(x: float) -> bool:
    return isinstance(x, (int, float)) and 0.0 < x < 1.0


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    if min(n_a, n_b) <= 0:
        raise ValueError("both groups need at least one user")
    if not (0 <= successes_a <= n_a and 0 <= successes_b <= n_b):
        raise ValueError("successes must lie between 0 and n")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0:
        return 0.0, 1.0
    z = (rate_b - rate_a) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1 = baseline_rate
    p2 = baseline_rate + min_detectable_effect
    if not all(_inside_unit(x) for x in (p1, p2, alpha, power)) or not min_detectable_effect:
        raise ValueError("rates, alpha and power must be in (0, 1) and the effect non-zero")
    mean = (p1 + p2) / 2.0
    z_alpha = _STD.inv_cdf(1.0 - alpha / 2.0)
    z_beta = _STD.inv_cdf(power)
    root = z_alpha * math.sqrt(2.0 * mean * (1.0 - mean)) + z_beta * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return int(math.ceil(root * root / (min_detectable_effect * min_detectable_effect)))
