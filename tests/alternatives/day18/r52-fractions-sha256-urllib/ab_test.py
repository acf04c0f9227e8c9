"""Task 2, with the standard library only."""
from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def _validate(successes, n) -> tuple[int, int]:
    s, n = int(successes), int(n)
    if n <= 0:
        raise ValueError("n must be positive")
    if s < 0 or s > n:
        raise ValueError("successes outside [0, n]")
    return s, n


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    sa, na = _validate(successes_a, n_a)
    sb, nb = _validate(successes_b, n_b)
    hits, users = sa + sb, na + nb
    if hits == 0 or hits == users:
        return 0.0, 1.0
    pooled = hits / users
    variance = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)
    z = (sb / nb - sa / na) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def _open_unit(name, x) -> float:
    x = float(x)
    if not 0.0 < x < 1.0:
        raise ValueError(f"{name} must be in (0, 1)")
    return x


def samples_per_variant(baseline_rate: float, min_detectable_effect: float, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    p1 = _open_unit("baseline_rate", baseline_rate)
    alpha = _open_unit("alpha", alpha)
    power = _open_unit("power", power)
    effect = float(min_detectable_effect)
    if effect == 0 or math.isnan(effect):
        raise ValueError("effect must be non-zero")
    p2 = _open_unit("baseline + effect", p1 + effect)
    mean = (p1 + p2) / 2
    term_a = _N.inv_cdf(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
    term_b = _N.inv_cdf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((term_a + term_b) ** 2 / effect ** 2)
