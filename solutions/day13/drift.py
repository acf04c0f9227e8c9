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

NONE = "none"
MODERATE = "moderate"
MAJOR = "major"


def _sample(values: Sequence[float], what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except OverflowError:  # a Python int too large for a float (10**400): a sample no float can hold
        raise ValueError(f"{what} holds an integer too large for a float") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D sequence of numbers")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} holds NaN or infinite values; clean them before checking drift")
    return array


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int, epsilon: float) -> np.ndarray:
    # side="left": a value equal to an edge belongs to the bin below it.
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=bins)
    return np.maximum(counts / values.size, epsilon)


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference`, over reference-quantile bins."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, not {bins}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, not {epsilon}")
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    edges = np.quantile(ref, np.arange(1, bins) / bins)
    p_ref = _proportions(ref, edges, bins, epsilon)
    p_cur = _proportions(cur, edges, bins, epsilon)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    """The usual reading: below 0.1 no shift, up to 0.25 moderate, above that major."""
    if value < 0.1:
        return NONE
    if value <= 0.25:
        return MODERATE
    return MAJOR


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value)."""
    result = stats.ks_2samp(_sample(reference, "reference"), _sample(current, "current"))
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True)
class DriftReport:
    psi: float
    level: str
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


def detect_drift(reference: Sequence[float], current: Sequence[float], bins: int = 10,
                 alpha: float = 0.01) -> DriftReport:
    """PSI and KS together; drifted when PSI shows a shift or KS rejects 'same distribution' at alpha."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    value = psi(reference, current, bins=bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    return DriftReport(value, level, statistic, pvalue, bool(level != NONE or pvalue < alpha))
