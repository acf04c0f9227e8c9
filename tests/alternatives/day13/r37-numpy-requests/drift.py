"""Drift checks, vectorised with NumPy."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)  # np.array copies: the caller's data is never touched
    arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.isfinite(arr).all():
        raise ValueError("sample holds NaN or infinite values")
    return arr


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise ValueError(f"bins must be an integer, got {bins!r}")
    bins = int(bins)
    if bins < 2:
        raise ValueError("bins must be at least 2")
    epsilon = float(epsilon)
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    ref, cur = _sample(reference), _sample(current)
    edges = np.quantile(ref, np.arange(1, bins) / bins)

    def shares(x: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, x, side="left"), minlength=bins)
        return np.maximum(counts / x.size, epsilon)

    p_ref, p_cur = shares(ref), shares(cur)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = stats.ks_2samp(_sample(reference), _sample(current))
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
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < alpha))
