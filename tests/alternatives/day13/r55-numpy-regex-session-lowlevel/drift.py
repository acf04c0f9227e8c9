"""Day 13 drift: numpy-vectorised PSI, scipy KS."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values) -> np.ndarray:
    arr = np.array(values, dtype=float)  # a copy: never the caller's array; OverflowError for 10**400
    arr = arr.ravel()
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sample holds NaN or infinite values")
    return arr


def _bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)):
        raise ValueError("bins must be an integer >= 2, not a bool")
    if isinstance(bins, numbers.Integral):
        count = int(bins)
    elif isinstance(bins, numbers.Real):
        value = float(bins)
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"bins must be a whole number, got {bins!r}")
        count = int(value)
    else:
        raise TypeError(f"bins must be an integer, got {type(bins).__name__}")
    if count < 2:
        raise ValueError(f"bins must be >= 2, got {bins!r}")
    return count


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int, epsilon: float) -> np.ndarray:
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=bins)
    return np.maximum(counts / values.size, epsilon)


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    count = _bins(bins)
    eps = float(epsilon)
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    ref, cur = _sample(reference), _sample(current)
    edges = np.quantile(ref, np.arange(1, count) / count)
    p_ref = _proportions(ref, edges, count, eps)
    p_cur = _proportions(cur, edges, count, eps)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    ref, cur = _sample(reference), _sample(current)
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
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < a))
