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

import numpy as np
from scipy import stats


def _sample(values) -> np.ndarray:
    arr = np.array(values, dtype=float)  # a copy
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("a sample must be a non-empty 1-d sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError("a sample must hold finite values only")
    return arr


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference` (README task 1 has the exact recipe).

    Bins are cut at the reference's quantiles, a value on an edge belongs to the bin
    below, values outside the reference range land in the outer bins, and a bin's
    proportion below `epsilon` counts as `epsilon` so an empty bin cannot divide by
    zero. Empty or non-finite samples, bins < 2 or an epsilon that is not > 0 (NaN too) are a ValueError.
    The samples are only read: the caller's lists and arrays come back unchanged.
    """
    if int(bins) != bins or bins < 2:
        raise ValueError("bins must be an integer >= 2")
    if not (epsilon > 0):
        raise ValueError("epsilon must be > 0")
    ref, cur = _sample(reference), _sample(current)
    edges = np.quantile(ref, np.arange(1, bins) / bins)

    def proportions(values):
        idx = np.searchsorted(edges, values, side="left")
        return np.maximum(np.bincount(idx, minlength=bins) / values.size, epsilon)

    p_ref, p_cur = proportions(ref), proportions(cur)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value); bad samples as for psi."""
    result = stats.ks_2samp(_sample(reference), _sample(current))
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
    """PSI and KS together; drifted when PSI shows a shift or KS rejects 'same distribution' at alpha.

    alpha outside (0, 1) is a ValueError.
    """
    if not (0 < alpha < 1):
        raise ValueError("alpha must lie in (0, 1)")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < alpha))
