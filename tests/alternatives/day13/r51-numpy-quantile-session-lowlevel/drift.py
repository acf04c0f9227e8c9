"""Day 13 drift (vectorised numpy)."""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values) -> np.ndarray:
    # float() of every element: Python ints beyond 64 bits, numpy scalars of any dtype; 10**400 -> OverflowError
    arr = np.array([float(v) for v in np.asarray(values, dtype=object).ravel()], dtype=float)
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sample holds NaN or infinite values")
    return arr


def _bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)):
        raise ValueError("bins must be a whole number >= 2, not a bool")
    if isinstance(bins, numbers.Integral):
        n = operator.index(bins)
    elif isinstance(bins, numbers.Real) and float(bins).is_integer():
        n = int(bins)
    else:
        raise TypeError(f"bins must be a whole number, got {bins!r}")
    if n < 2:
        raise ValueError("bins must be >= 2")
    return n


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    n = _bins(bins)
    eps = float(epsilon)
    if not eps > 0:
        raise ValueError("epsilon must be > 0")
    ref = _sample(reference)
    cur = _sample(current)
    edges = np.quantile(ref, np.arange(1, n) / n)
    p_ref = np.maximum(np.bincount(np.searchsorted(edges, ref, side="left"), minlength=n) / ref.size, eps)
    p_cur = np.maximum(np.bincount(np.searchsorted(edges, cur, side="left"), minlength=n) / cur.size, eps)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    ref = _sample(reference)
    cur = _sample(current)
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
        raise ValueError("alpha must lie in (0, 1)")
    value = psi(reference, current, bins)
    level = psi_level(value)
    stat, p = ks_test(reference, current)
    return DriftReport(value, level, stat, p, bool(level != "none" or p < a))
