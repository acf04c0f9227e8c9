"""Has the data a model sees moved away from the data it was trained on?

Two complementary checks on one feature: the Population Stability Index (how much
probability mass moved between bins cut at the reference's quantiles; an effect
size with industry rules of thumb) and the two-sample Kolmogorov-Smirnov test (is
the difference more than sampling noise; with big samples even tiny shifts are
"significant", which is why PSI sits beside it).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values, what: str) -> np.ndarray:
    arr = np.array(values, dtype=float)  # a copy: the caller's data is never touched
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.size == 0:
        raise ValueError(f"the {what} sample is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"the {what} sample holds NaN or infinite values")
    return arr


def _bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)):
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if not isinstance(bins, Integral):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    bins = int(bins)
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    return bins


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference` (README task 1 has the exact recipe).

    Bins are cut at the reference's quantiles, a value on an edge belongs to the bin
    below, values outside the reference range land in the outer bins, and a bin's
    proportion below `epsilon` counts as `epsilon` so an empty bin cannot divide by
    zero. Empty or non-finite samples, bins < 2 or an epsilon that is not > 0 (NaN too) are a
    ValueError; an int too large for a float (10**400) is refused too (ValueError or OverflowError).
    The samples are only read: the caller's lists and arrays come back unchanged.
    """
    bins = _bins(bins)
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, Real):
        raise ValueError(f"epsilon must be a number > 0, got {epsilon!r}")
    epsilon = float(epsilon)
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    edges = np.quantile(ref, np.arange(1, bins) / bins)

    def proportions(values: np.ndarray) -> np.ndarray:
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
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value); bad samples as for psi.

    Like psi it only reads its samples: the caller's lists and arrays come back unchanged.
    """
    result = stats.ks_2samp(_sample(reference, "reference"), _sample(current, "current"))
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
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, Real):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < alpha))
