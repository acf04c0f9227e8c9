"""Has the data a model sees moved away from the data it was trained on?

Two complementary checks on one feature: the Population Stability Index (how much
probability mass moved between bins cut at the reference's quantiles; an effect
size with industry rules of thumb) and the two-sample Kolmogorov-Smirnov test (is
the difference more than sampling noise; with big samples even tiny shifts are
"significant", which is why PSI sits beside it).
"""

from __future__ import annotations

from dataclasses import dataclass
import bisect
import math
from typing import Sequence


def _checked(values, what: str) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{what} is empty")
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what} holds a non-finite value: {v}")
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method) on a sorted list."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    a, b = ordered[low], ordered[high]
    if fraction >= 0.5:
        return b - (b - a) * (1 - fraction)
    return a + (b - a) * fraction


def _shares(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    return [max(c / len(values), epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    ordered = sorted(ref)
    edges = [_quantile(ordered, i / bins) for i in range(1, bins)]
    total = 0.0
    for c, r in zip(_shares(cur, edges, bins, epsilon), _shares(ref, edges, bins, epsilon)):
        total += (c - r) * math.log(c / r)
    return total


_LEVELS = ((0.1, "none"), (0.25, "moderate"))


def psi_level(value: float) -> str:
    for limit, name in _LEVELS:
        if (value < limit) if name == "none" else (value <= limit):
            return name
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    from scipy.stats import kstest

    result = kstest(_checked(reference, "reference"), _checked(current, "current"))
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True)
class DriftReport:
    psi: float
    level: str  # psi_level(psi)
    ks_statistic: float
    ks_pvalue: float
    drifted: bool  # level != "none" or ks_pvalue < alpha


def detect_drift(reference: Sequence[float], current: Sequence[float], bins: int = 10,
                 alpha: float = 0.01) -> DriftReport:
    if not (alpha > 0 and alpha < 1):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    statistic, pvalue = ks_test(reference, current)
    value = psi(reference, current, bins=bins)
    level = psi_level(value)
    drifted = pvalue < alpha or level in ("moderate", "major")
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
