"""Has the data a model sees moved away from the data it was trained on? (numpy style)"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values, what: str) -> np.ndarray:
    arr = np.array(values, dtype=float, copy=True)  # a copy: the caller's data is never touched
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.size == 0:
        raise ValueError(f"{what} sample is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} sample holds NaN or infinite values")
    return arr


def _bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)):
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    n = operator.index(bins)  # TypeError for floats
    if n < 2:
        raise ValueError(f"bins must be >= 2, got {n}")
    return n


def _epsilon(epsilon) -> float:
    eps = float(epsilon)
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    return eps


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    n = _bins(bins)
    eps = _epsilon(epsilon)
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    edges = np.quantile(ref, np.arange(1, n) / n)

    def proportions(values: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="left")
        return np.maximum(np.bincount(idx, minlength=n) / values.size, eps)

    p_ref, p_cur = proportions(ref), proportions(cur)
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
    a = float(alpha)
    if not 0 < a < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < a))
