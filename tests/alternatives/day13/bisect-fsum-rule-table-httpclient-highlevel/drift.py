"""Has the data a model sees moved away from the data it was trained on?

Two complementary checks on one feature: the Population Stability Index (how much
probability mass moved between bins cut at the reference's quantiles; an effect
size with industry rules of thumb) and the two-sample Kolmogorov-Smirnov test (is
the difference more than sampling noise; with big samples even tiny shifts are
"significant", which is why PSI sits beside it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


import bisect
import math
import numbers

import numpy
import scipy.stats


def _checked(values, name: str) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{name}: empty sample")
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{name}: non-finite value {v}")
    return out


def _proportions(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    n = len(values)
    return [c / n if c / n >= epsilon else epsilon for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference`."""
    if not isinstance(bins, numbers.Integral) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    edges = [float(q) for q in numpy.quantile(ref, [i / bins for i in range(1, bins)])]
    p_ref = _proportions(ref, edges, bins, epsilon)
    p_cur = _proportions(cur, edges, bins, epsilon)
    return math.fsum((c - r) * math.log(c / r) for c, r in zip(p_cur, p_ref))


_LEVELS = ((0.1, "none"), (0.25, "moderate"))


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    if value < 0.1:
        return "none"
    return "moderate" if value <= 0.25 else "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value)."""
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    result = scipy.stats.kstest(ref, cur)  # two samples given: the two-sample test, two-sided
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
    """PSI and KS together."""
    if not (alpha > 0 and alpha < 1):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    statistic, pvalue = ks_test(reference, current)
    value = psi(reference, current, bins=bins)
    level = psi_level(value)
    drifted = pvalue < alpha or level != "none"
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
