"""Drift checks written in plain Python (bisect and math), with scipy only for the KS test."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from scipy.stats import ks_2samp


def _checked(values, what: str) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{what} is empty")
    if any(not math.isfinite(v) for v in out):
        raise ValueError(f"{what} has a NaN or infinite value")
    return out


def _linear_quantile(ordered: list[float], q: float) -> float:
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    frac = h - lo
    a, b = ordered[lo], ordered[hi]
    if frac == 0 or a == b:
        return a
    return a + (b - a) * frac if frac < 0.5 else b - (b - a) * (1 - frac)


class _Bins:
    def __init__(self, reference: list[float], bins: int) -> None:
        ordered = sorted(reference)
        self.count = bins
        self.edges = [_linear_quantile(ordered, i / bins) for i in range(1, bins)]

    def shares(self, values: list[float], epsilon: float) -> list[float]:
        counts = Counter(bisect.bisect_left(self.edges, v) for v in values)
        return [max(counts.get(i, 0) / len(values), epsilon) for i in range(self.count)]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    if bins < 2:
        raise ValueError("need at least 2 bins")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError("epsilon must be positive")
    binning = _Bins(ref, bins)
    p_ref = binning.shares(ref, epsilon)
    p_cur = binning.shares(cur, epsilon)
    return math.fsum((c - r) * math.log(c / r) for c, r in zip(p_cur, p_ref))


_LEVELS = ((0.1, "none"), (0.25, "moderate"))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    return "moderate" if not value > 0.25 else "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    res = ks_2samp(_checked(reference, "reference"), _checked(current, "current"), alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class DriftReport:
    psi: float
    level: str
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


def detect_drift(reference: Sequence[float], current: Sequence[float], bins: int = 10,
                 alpha: float = 0.01) -> DriftReport:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha} outside (0, 1)")
    stat, pvalue = ks_test(reference, current)
    value = psi(reference, current, bins=bins)
    level = psi_level(value)
    return DriftReport(psi=value, level=level, ks_statistic=stat, ks_pvalue=pvalue,
                       drifted=bool((level != "none") or (pvalue < alpha)))
