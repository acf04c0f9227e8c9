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

import numpy as np
from scipy import stats


def _floats(values, what: str) -> list[float]:
    """The sample as a new list of Python floats; ValueError when empty or not finite."""
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{what}: {v!r} is not a finite real number") from None
        if not math.isfinite(x):
            raise ValueError(f"{what}: {v!r} is not finite")
        out.append(x)
    if not out:
        raise ValueError(f"{what} is empty")
    return out


class _Binning:
    """Quantile bins of one reference sample."""

    def __init__(self, reference: list[float], bins) -> None:
        if isinstance(bins, bool) or not isinstance(bins, (numbers.Integral, np.integer)):
            raise ValueError(f"bins must be an integer, got {bins!r}")
        self.count = int(bins)
        if self.count < 2:
            raise ValueError(f"bins must be at least 2, got {bins!r}")
        cut = [i / self.count for i in range(1, self.count)]
        self.edges = [float(e) for e in np.quantile(np.array(reference, dtype=float), cut)]

    def shares(self, values: list[float], epsilon: float) -> list[float]:
        counts = [0] * self.count
        for x in values:
            counts[bisect.bisect_left(self.edges, x)] += 1  # edges strictly below x
        return [max(c / len(values), epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference` (README task 1 has the exact recipe)."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"epsilon must be a real number, got {epsilon!r}")
    eps = float(epsilon)
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    ref = _floats(reference, "reference")
    cur = _floats(current, "current")
    binning = _Binning(ref, bins)
    p_ref, p_cur = binning.shares(ref, eps), binning.shares(cur, eps)
    return math.fsum((c - r) * math.log(c / r) for c, r in zip(p_cur, p_ref))


_LEVELS = ((0.1, "none"), (0.25, "moderate"))


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    if value < 0.1:
        return "none"
    return "moderate" if value <= 0.25 else "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value); bad samples as for psi."""
    result = stats.ks_2samp(_floats(reference, "reference"), _floats(current, "current"), alternative="two-sided")
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
    """PSI and KS together; drifted when PSI shows a shift or KS rejects 'same distribution' at alpha."""
    if isinstance(alpha, bool) or not isinstance(alpha, (numbers.Real, np.floating)):
        raise ValueError(f"alpha must be a real number, got {alpha!r}")
    a = float(alpha)
    if not (a > 0.0 and a < 1.0):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    ref = _floats(reference, "reference")
    cur = _floats(current, "current")
    value = psi(ref, cur, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(ref, cur)
    drifted = level != "none" or pvalue < a
    return DriftReport(value, level, statistic, pvalue, True if drifted else False)
