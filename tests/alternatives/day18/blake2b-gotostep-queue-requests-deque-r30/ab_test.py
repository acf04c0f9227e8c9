"""A/B statistics."""

from __future__ import annotations

import math

from scipy.stats import norm


def _check_counts(s, n):
    if not n > 0 or not 0 <= s <= n:
        raise ValueError(f"need n > 0 and 0 <= successes <= n, got {s}/{n}")


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    _check_counts(successes_a, n_a)
    _check_counts(successes_b, n_b)
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled <= 0 or pooled >= 1:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (successes_b / n_b - successes_a / n_a) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1, effect = baseline_rate, min_detectable_effect
    for name, x in (("baseline_rate", p1), ("alpha", alpha), ("power", power)):
        if not 0 < x < 1:
            raise ValueError(f"{name} must be in (0, 1), got {x}")
    if not effect != 0 or math.isnan(effect):
        raise ValueError("effect must be non-zero")
    p2 = p1 + effect
    if not 0 < p2 < 1:
        raise ValueError(f"baseline + effect must be in (0, 1), got {p2}")
    p_bar = (p1 + p2) / 2
    top = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * p_bar * (1 - p_bar))
           + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))
    return int(math.ceil(top**2 / effect**2))
