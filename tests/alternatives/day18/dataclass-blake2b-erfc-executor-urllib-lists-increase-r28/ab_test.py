from __future__ import annotations

import math
from statistics import NormalDist

_STD = NormalDist()


def _rate_ok(x: float) -> bool:
    return 0.0 < x < 1.0


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    if min(n_a, n_b) <= 0:
        raise ValueError("each group needs at least one user")
    if not (0 <= successes_a <= n_a and 0 <= successes_b <= n_b):
        raise ValueError("successes out of range")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if not _rate_ok(pooled):
        return 0.0, 1.0
    z = (rate_b - rate_a) / math.sqrt(variance)
    p = math.erfc(abs(z) / math.sqrt(2.0))  # = 2 * upper tail, without cancellation
    return z, p


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    checks = {
        "baseline_rate": _rate_ok(baseline_rate),
        "alpha": _rate_ok(alpha),
        "power": _rate_ok(power),
        "min_detectable_effect": min_detectable_effect != 0 and not math.isnan(min_detectable_effect),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"invalid: {', '.join(bad)}")
    p1 = baseline_rate
    p2 = p1 + min_detectable_effect
    if not _rate_ok(p2):
        raise ValueError("baseline + effect must be in (0, 1)")
    mean = (p1 + p2) / 2
    z_alpha = _STD.inv_cdf(1 - alpha / 2)
    z_power = _STD.inv_cdf(power)
    top = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(top * top / (min_detectable_effect * min_detectable_effect))
