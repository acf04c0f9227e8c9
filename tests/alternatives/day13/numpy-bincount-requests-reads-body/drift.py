"""Drift checks with numpy: quantile edges, searchsorted, bincount."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values) -> np.ndarray:
    arr = np.array(values, dtype=float)  # a copy: the caller's data is never touched
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sample holds NaN or infinite values")
    return arr


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int, epsilon: float) -> np.ndarray:
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=bins)
    return np.maximum(counts / values.size, epsilon)


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref, cur = _sample(reference), _sample(current)
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    edges = np.quantile(ref, np.arange(1, bins) / bins)
    p_ref = _proportions(ref, edges, bins, epsilon)
    p_cur = _proportions(cur, edges, bins, epsilon)
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
    level: str
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


def detect_drift(reference: Sequence[float], current: Sequence[float], bins: int = 10,
                 alpha: float = 0.01) -> DriftReport:
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie in (0, 1)")
    value = psi(reference, current, bins)
    level = psi_level(value)
    stat, p = ks_test(reference, current)
    return DriftReport(value, level, stat, p, bool(level != "none" or p < alpha))
