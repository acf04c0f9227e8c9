"""Stdlib-only statistics: statistics.NormalDist for quantiles, math.erfc for tails."""
from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _upper_tail(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    if n_a <= 0 or n_b <= 0:
        raise ValueError("group sizes must be positive")
    if not (0 <= successes_a <= n_a and 0 <= successes_b <= n_b):
        raise ValueError("successes must lie in [0, n]")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return 0.0, 1.0
    z = (rate_b - rate_a) / math.sqrt(variance)
    return z, min(1.0, 2 * _upper_tail(abs(z)))


def _check_open_unit(name: str, x: float) -> None:
    if not 0 < x < 1:
        raise ValueError(f"{name} must be in (0, 1), got {x!r}")


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    _check_open_unit("baseline_rate", baseline_rate)
    _check_open_unit("alpha", alpha)
    _check_open_unit("power", power)
    if not min_detectable_effect or min_detectable_effect != min_detectable_effect:
        raise ValueError("the effect must be a non-zero number")
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    _check_open_unit("baseline_rate + min_detectable_effect", p2)
    mean = (p1 + p2) / 2
    z_alpha = _STD.inv_cdf(1 - alpha / 2)
    z_power = _STD.inv_cdf(power)
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (min_detectable_effect * min_detectable_effect))
