"""Task 2: the z test via statistics.NormalDist-free scipy special functions."""

from __future__ import annotations

import math

from scipy import special


def _upper_tail(x: float) -> float:
    return 0.5 * special.erfc(x / math.sqrt(2))


def _quantile(q: float) -> float:
    return float(special.ndtri(q))


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if n <= 0 or s < 0 or s > n:
            raise ValueError(f"impossible counts {s} of {n}")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if pooled == 0 or pooled == 1:
        return (0.0, 1.0)
    z = (rate_b - rate_a) / math.sqrt(variance)
    return (z, 2 * _upper_tail(abs(z)))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    def inside(x):
        return 0 < x < 1

    p1 = baseline_rate
    p2 = baseline_rate + min_detectable_effect
    if not (inside(p1) and inside(alpha) and inside(power)):
        raise ValueError("baseline, alpha and power must be in (0, 1)")
    if min_detectable_effect == 0 or not inside(p2):
        raise ValueError("need a non-zero effect with baseline + effect in (0, 1)")
    mean = (p1 + p2) / 2
    top = (_quantile(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
           + _quantile(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))
    return math.ceil(top * top / (min_detectable_effect * min_detectable_effect))
