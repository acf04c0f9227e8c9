"""Task 2 with scipy.special."""

from __future__ import annotations

import math

from scipy.special import erfc, ndtri


def _check_counts(s, n, which):
    if n <= 0:
        raise ValueError(f"n_{which} must be positive")
    if s < 0 or s > n:
        raise ValueError(f"successes_{which} must be within [0, n_{which}]")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    _check_counts(successes_a, n_a, "a")
    _check_counts(successes_b, n_b, "b")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled <= 0 or pooled >= 1:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (successes_b / n_b - successes_a / n_a) / se
    return float(z), float(erfc(abs(z) / math.sqrt(2)))


def _open_unit(x, what):
    if not (0 < x < 1):
        raise ValueError(f"{what} must be in (0, 1), got {x}")


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    _open_unit(baseline_rate, "baseline_rate")
    _open_unit(alpha, "alpha")
    _open_unit(power, "power")
    if min_detectable_effect == 0 or math.isnan(min_detectable_effect):
        raise ValueError("the effect must be a non-zero number")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    _open_unit(p2, "baseline + effect")
    p_bar = (p1 + p2) / 2
    a = float(ndtri(1 - alpha / 2)) * math.sqrt(2 * p_bar * (1 - p_bar))
    b = float(ndtri(power)) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return int(math.ceil((a + b) ** 2 / min_detectable_effect ** 2))
