"""Task 2: two-proportion z test and sample size (scipy)."""

from __future__ import annotations

import math

from scipy.stats import norm


def two_proportion_z_test(successes_a, n_a, successes_b, n_b):
    sa, na, sb, nb = int(successes_a), int(n_a), int(successes_b), int(n_b)
    if na <= 0 or nb <= 0:
        raise ValueError("n must be positive")
    if not (0 <= sa <= na and 0 <= sb <= nb):
        raise ValueError("successes must be in [0, n]")
    pooled = (sa + sb) / (na + nb)
    if pooled <= 0 or pooled >= 1:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    z = (sb / nb - sa / na) / se
    return float(z), float(2 * norm.sf(abs(z)))


def samples_per_variant(baseline_rate, min_detectable_effect, alpha=0.05, power=0.8):
    p1, effect = baseline_rate, min_detectable_effect
    for name, v in (("baseline_rate", p1), ("alpha", alpha), ("power", power)):
        if not 0 < v < 1:
            raise ValueError(f"{name} must be in (0, 1), got {v}")
    if not math.isfinite(effect) or effect == 0:
        raise ValueError("effect must be a nonzero number")
    p2 = p1 + effect
    if not 0 < p2 < 1:
        raise ValueError("baseline + effect must be in (0, 1)")
    p_bar = (p1 + p2) / 2
    n = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * p_bar * (1 - p_bar))
         + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / effect**2
    return int(math.ceil(n))
