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


def _sample(values, what: str) -> np.ndarray:
    arr = np.array(values, dtype=float)  # always a copy
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return arr


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    edges = np.quantile(ref, np.arange(1, bins) / bins)
    p_ref = np.maximum(np.bincount(np.searchsorted(edges, ref, side="left"), minlength=bins) / ref.size, epsilon)
    p_cur = np.maximum(np.bincount(np.searchsorted(edges, cur, side="left"), minlength=bins) / cur.size, epsilon)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    result = stats.ks_2samp(ref, cur)
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
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie in (0, 1)")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < alpha))
