"""Drift checks: PSI and KS."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values, name: str) -> np.ndarray:
    arr = np.array(values, dtype=float)  # always a copy
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))  # tied edges would make empty bins

    def proportions(values: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="left")
        return np.maximum(np.bincount(idx, minlength=edges.size + 1) / values.size, epsilon)

    p_ref, p_cur = proportions(ref), proportions(cur)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
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
    statistic, pvalue = ks_test(reference, current)
    return DriftReport(value, level, statistic, pvalue, bool(level != "none" or pvalue < alpha))
