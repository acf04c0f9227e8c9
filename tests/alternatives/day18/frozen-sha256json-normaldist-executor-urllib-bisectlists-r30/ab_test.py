"""A/B statistics with the standard library only."""

from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _rate(successes, n):
    if n <= 0 or successes < 0 or successes > n:
        raise ValueError(f"impossible counts: {successes} of {n}")
    return successes / n


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    rate_a, rate_b = _rate(successes_a, n_a), _rate(successes_b, n_b)
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance == 0:
        return (0.0, 1.0)
    z = (rate_b - rate_a) / math.sqrt(variance)
    # erfc keeps the far tail: 2 * sf(|z|) == erfc(|z| / sqrt 2)
    return (z, math.erfc(abs(z) / math.sqrt(2)))


def _open_unit(name, value):
    if not (0 < value < 1):
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    _open_unit("baseline_rate", baseline_rate)
    _open_unit("alpha", alpha)
    _open_unit("power", power)
    if not abs(min_detectable_effect) > 0:
        raise ValueError("the effect must be a non-zero number")
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    _open_unit("baseline_rate + min_detectable_effect", p2)
    mean = (p1 + p2) / 2
    z_alpha = _STD.inv_cdf(1 - alpha / 2)
    z_beta = _STD.inv_cdf(power)
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (min_detectable_effect * min_detectable_effect))
