"""Task 2: A/B statistics with the standard library only (erfc and NormalDist)."""

from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _check_group(successes, n):
    if n <= 0:
        raise ValueError(f"a group needs users, got n={n}")
    if successes < 0 or successes > n:
        raise ValueError(f"successes {successes} outside [0, {n}]")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    _check_group(successes_a, n_a)
    _check_group(successes_b, n_b)
    total = n_a + n_b
    hits = successes_a + successes_b
    if hits == 0 or hits == total:
        return 0.0, 1.0
    pooled = hits / total
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    z = (successes_b / n_b - successes_a / n_a) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def _in_open_unit(x) -> bool:
    return 0.0 < x < 1.0


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    if not (_in_open_unit(baseline_rate) and _in_open_unit(alpha) and _in_open_unit(power)):
        raise ValueError("baseline_rate, alpha and power must lie in (0, 1)")
    effect = min_detectable_effect
    if math.isnan(effect) or effect == 0:
        raise ValueError("the effect must be a non-zero number")
    p1, p2 = baseline_rate, baseline_rate + effect
    if not _in_open_unit(p2):
        raise ValueError("baseline + effect must lie in (0, 1)")
    mean = (p1 + p2) / 2
    z_alpha = _STD.inv_cdf(1 - alpha / 2)
    z_power = _STD.inv_cdf(power)
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (effect * effect))
