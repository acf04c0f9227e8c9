"""Task 2: the z test and sample size with the standard library only (NormalDist, erfc)."""

from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _check_rate(name: str, x: float) -> None:
    if not 0.0 < x < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {x!r}")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    if n_a <= 0 or n_b <= 0:
        raise ValueError("each group needs at least one user")
    if not (0 <= successes_a <= n_a and 0 <= successes_b <= n_b):
        raise ValueError("successes must lie in [0, n]")
    total_s, total_n = successes_a + successes_b, n_a + n_b
    if total_s == 0 or total_s == total_n:
        return 0.0, 1.0
    pooled = total_s / total_n
    z = (successes_b / n_b - successes_a / n_a) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return z, math.erfc(abs(z) / math.sqrt(2))  # = 2 * upper tail, without cancelling to 0


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    _check_rate("baseline_rate", baseline_rate)
    if min_detectable_effect == 0 or math.isnan(min_detectable_effect):
        raise ValueError("the effect must be a non-zero number")
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    _check_rate("baseline_rate + min_detectable_effect", p2)
    _check_rate("alpha", alpha)
    _check_rate("power", power)
    p_bar = (p1 + p2) / 2
    z_alpha, z_power = _STD.inv_cdf(1 - alpha / 2), _STD.inv_cdf(power)
    n = (z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(n / min_detectable_effect**2)
