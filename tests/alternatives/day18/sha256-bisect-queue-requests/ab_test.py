"""Task 2: is the difference between two variants real, and how many users do we need?"""

from __future__ import annotations

import math

from scipy.stats import norm


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if not n > 0 or not 0 <= s <= n:
            raise ValueError(f"impossible counts {s}/{n}")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled <= 0 or pooled >= 1:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (successes_b / n_b - successes_a / n_a) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    for name, x in (("baseline_rate", baseline_rate), ("alpha", alpha), ("power", power)):
        if not 0 < x < 1:
            raise ValueError(f"{name} must be in (0, 1), got {x!r}")
    if not min_detectable_effect == min_detectable_effect or min_detectable_effect == 0:
        raise ValueError("effect must be a non-zero number")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    if not 0 < p2 < 1:
        raise ValueError(f"baseline + effect must be in (0, 1), got {p2!r}")
    p_bar = (p1 + p2) / 2
    n = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * p_bar * (1 - p_bar))
         + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / min_detectable_effect ** 2
    return int(math.ceil(n))
