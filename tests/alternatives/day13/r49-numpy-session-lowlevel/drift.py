"""Drift checks: PSI with reference-quantile bins, and the two-sample KS test (numpy-vectorised)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _sample(values) -> np.ndarray:
    try:
        arr = np.array(values, dtype=float, copy=True).ravel()  # our own copy: the caller's data is never touched
    except OverflowError:  # a Python int such as 10**400 that no float holds
        raise ValueError("sample holds an int too large for a float") from None
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sample holds NaN or infinite values")
    return arr


def _bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, numbers.Integral):
        raise ValueError(f"bins must be an integer, got {bins!r}")
    bins = int(bins)
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    return bins


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _sample(reference)
    cur = _sample(current)
    bins = _bins(bins)
    try:
        eps = float(epsilon)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"epsilon must be a number, got {epsilon!r}") from exc
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    edges = np.quantile(ref, np.arange(1, bins) / bins)

    def proportions(values: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="left")
        return np.maximum(np.bincount(idx, minlength=bins) / values.size, eps)

    p_ref, p_cur = proportions(ref), proportions(cur)
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
    level: str  # psi_level(psi)
    ks_statistic: float
    ks_pvalue: float
    drifted: bool  # level != "none" or ks_pvalue < alpha


def detect_drift(reference: Sequence[float], current: Sequence[float], bins: int = 10,
                 alpha: float = 0.01) -> DriftReport:
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alpha must be a number, got {alpha!r}") from exc
    if not 0 < a < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    stat, p = ks_test(reference, current)
    return DriftReport(value, level, stat, p, bool(level != "none" or p < a))
