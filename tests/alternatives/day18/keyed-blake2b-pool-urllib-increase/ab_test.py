"""Task 2: the z test and sample size with the standard library only (erfc, NormalDist)."""

from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _check_counts(s, n):
    if n <= 0:
        raise ValueError(f"group size must be positive, got {n}")
    if s < 0 or s > n:
        raise ValueError(f"successes {s} outside [0, {n}]")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    _check_counts(successes_a, n_a)
    _check_counts(successes_b, n_b)
    total_s, total_n = successes_a + successes_b, n_a + n_b
    if total_s == 0 or total_s == total_n:
        return 0.0, 1.0
    pooled = total_s / total_n
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    z = (successes_b / n_b - successes_a / n_a) / math.sqrt(variance)
    p = math.erfc(abs(z) / math.sqrt(2.0))  # = 2 * upper tail, exact for tiny values
    return z, p


def _in_open_unit(x) -> bool:
    return 0.0 < x < 1.0


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    for name, value in (("baseline_rate", baseline_rate), ("alpha", alpha), ("power", power)):
        if not _in_open_unit(value):
            raise ValueError(f"{name} must be in (0, 1), got {value}")
    if not (min_detectable_effect > 0 or min_detectable_effect < 0):
        raise ValueError("the effect must be non-zero")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    if not _in_open_unit(p2):
        raise ValueError(f"baseline + effect = {p2} is outside (0, 1)")
    mean = (p1 + p2) / 2.0
    z_alpha = _STD.inv_cdf(1.0 - alpha / 2.0)
    z_power = _STD.inv_cdf(power)
    root = z_alpha * math.sqrt(2.0 * mean * (1.0 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (min_detectable_effect * min_detectable_effect))
