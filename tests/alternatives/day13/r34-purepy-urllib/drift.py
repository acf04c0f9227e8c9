"""Drift checks written with the standard library: bisect for the bins, a hand-rolled linear quantile."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats


def _floats(values) -> list[float]:
    out = [float(v) for v in list(values)]  # a new list: the caller's sample is never touched
    if not out:
        raise ValueError("a sample must not be empty")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"non-finite value {v!r} in sample")
    return out


def _quantile_linear(sorted_values: list[float], q: float) -> float:
    """numpy's default 'linear' quantile (method 7) on an already sorted list."""
    n = len(sorted_values)
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    frac = h - lo
    a, b = sorted_values[lo], sorted_values[hi]
    # numpy's _lerp: a + (b - a) * t, corrected near t=1
    diff = b - a
    if frac >= 0.5:
        return b - diff * (1 - frac)
    return a + diff * frac


def _proportions(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    n = len(values)
    return [max(c / n, epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    if bins < 2:
        raise ValueError("need at least two bins")
    if not (epsilon > 0):
        raise ValueError("epsilon must be positive")
    ref = _floats(reference)
    cur = _floats(current)
    ordered = sorted(ref)
    edges = [_quantile_linear(ordered, i / bins) for i in range(1, bins)]
    total = 0.0
    for pc, pr in zip(_proportions(cur, edges, bins, epsilon), _proportions(ref, edges, bins, epsilon)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value: float) -> str:
    for bound, name in ((0.1, "none"),):
        if value < bound:
            return name
    return "moderate" if value <= 0.25 else "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    statistic, pvalue = stats.ks_2samp(_floats(reference), _floats(current))
    return float(statistic), float(pvalue)


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
    if not (0.0 < alpha < 1.0):
        raise ValueError("alpha must be in (0, 1)")
    value = psi(reference, current, bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    drifted = level != "none" or pvalue < alpha
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=drifted)
