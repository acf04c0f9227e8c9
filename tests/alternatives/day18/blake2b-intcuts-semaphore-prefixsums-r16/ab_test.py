"""Task 2: z test and sample size with the standard library only (statistics.NormalDist, erfc)."""

from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _valid_counts(s: int, n: int) -> bool:
    return n > 0 and 0 <= s <= n


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    if not (_valid_counts(successes_a, n_a) and _valid_counts(successes_b, n_b)):
        raise ValueError(f"impossible counts: {successes_a}/{n_a}, {successes_b}/{n_b}")
    hits, users = successes_a + successes_b, n_a + n_b
    if hits == 0 or hits == users:
        return (0.0, 1.0)
    pooled = hits / users
    z = (successes_b / n_b - successes_a / n_a) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return z, math.erfc(abs(z) / math.sqrt(2))  # 2 * upper tail, without 1 - cdf rounding


def _open_unit(x: float) -> bool:
    return 0 < x < 1


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    checks = [_open_unit(p1), _open_unit(alpha), _open_unit(power), min_detectable_effect != 0, _open_unit(p2)]
    if not all(checks):
        raise ValueError("need baseline, baseline + effect, alpha and power in (0, 1), and a non-zero effect")
    mean = (p1 + p2) / 2
    z_alpha = _STD.inv_cdf(1 - alpha / 2)
    z_power = _STD.inv_cdf(power)
    numerator = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return int(math.ceil(numerator * numerator / (min_detectable_effect * min_detectable_effect)))
