"""Drift checks: PSI and KS (vectorised numpy style)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _as_sample(values) -> np.ndarray:
    if isinstance(values, np.ndarray):
        arr = values.astype(float, copy=True)
    else:
        arr = np.array([float(v) for v in values], dtype=float)
    arr = arr.ravel()
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sample holds NaN or infinite values")
    return arr


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    ref, cur = _as_sample(reference), _as_sample(current)
    edges = np.quantile(ref, np.arange(1, bins) / bins)

    def proportions(values: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="left")
        return np.maximum(np.bincount(idx, minlength=bins) / values.size, epsilon)

    p_ref, p_cur = proportions(ref), proportions(cur)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    if value <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = stats.ks_2samp(_as_sample(reference), _as_sample(current))
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
