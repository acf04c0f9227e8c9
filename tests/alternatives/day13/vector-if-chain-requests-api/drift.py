"""Drift checks with numpy vectors: quantile edges, searchsorted, bincount."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values: Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return arr


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int, epsilon: float) -> np.ndarray:
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=bins)
    return np.maximum(counts / values.size, epsilon)


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    if int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if not (epsilon > 0):
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    bins = int(bins)
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
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
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
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < alpha))
