"""Drift checks written with the standard library where it is enough (bisect, math), scipy only for KS."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Sequence

import scipy.stats


def _checked(values) -> list[float]:
    out = [float(v) for v in values]  # a new list: the caller's data is never touched
    if not out:
        raise ValueError("a sample must hold at least one value")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"non-finite value {v!r} in a sample")
    return out


def _quantile(sorted_values: list[float], q: float) -> float:
    """numpy's default ('linear') quantile of already sorted values."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    a, b = sorted_values[lo], sorted_values[hi]
    return a + (b - a) * frac


class _Binning:
    def __init__(self, reference: list[float], bins: int):
        ordered = sorted(reference)
        self.bins = bins
        self.edges = [_quantile(ordered, i / bins) for i in range(1, bins)]

    def shares(self, values: list[float], epsilon: float) -> list[float]:
        counts = [0] * self.bins
        for v in values:
            counts[bisect.bisect_left(self.edges, v)] += 1
        return [max(c / len(values), epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref, cur = _checked(reference), _checked(current)
    if bins < 2:
        raise ValueError("need at least two bins")
    if not (epsilon > 0):
        raise ValueError("epsilon must be positive")
    binning = _Binning(ref, bins)
    total = 0.0
    for c, r in zip(binning.shares(cur, epsilon), binning.shares(ref, epsilon)):
        total += (c - r) * math.log(c / r)
    return total


_LEVELS = ((0.1, "none", False), (0.25, "moderate", True))


def psi_level(value: float) -> str:
    for limit, name, inclusive in _LEVELS:
        if value < limit or (inclusive and value == limit):
            return name
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    res = scipy.stats.ks_2samp(_checked(reference), _checked(current), alternative="two-sided")
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
    if not (alpha > 0 and alpha < 1):
        raise ValueError(f"alpha={alpha} is outside (0, 1)")
    value = psi(reference, current, bins=bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue,
                       drifted=bool(level != "none" or pvalue < alpha))
