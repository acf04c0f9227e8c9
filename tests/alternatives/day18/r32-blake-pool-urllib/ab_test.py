"""Style: the standard library's statistics.NormalDist instead of scipy."""
from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def _check(s, n):
    if n != n or s != s:
        raise ValueError("NaN count")
    if n <= 0:
        raise ValueError("n must be positive")
    if s < 0 or s > n:
        raise ValueError("successes outside [0, n]")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    _check(successes_a, n_a)
    _check(successes_b, n_b)
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled in (0, 1):
        return 0.0, 1.0
    diff = successes_b / n_b - successes_a / n_a
    z = diff / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    # upper tail via erfc keeps tiny p-values away from 0
    p = math.erfc(abs(z) / math.sqrt(2))
    return z, p


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    def inside(x):
        return 0 < x < 1
    if not (inside(baseline_rate) and inside(alpha) and inside(power)):
        raise ValueError("rates must be in (0, 1)")
    if not min_detectable_effect or min_detectable_effect != min_detectable_effect:
        raise ValueError("effect must be non-zero")
    p1, p2 = baseline_rate, baseline_rate + min_detectable_effect
    if not inside(p2):
        raise ValueError("p2 outside (0, 1)")
    pbar = (p1 + p2) / 2
    a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
    b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / min_detectable_effect ** 2)
