"""Day 13 drift: plain-Python binning (bisect) over numpy's quantile edges."""

from __future__ import annotations

import bisect
import math
import operator
from dataclasses import dataclass
from typing import Sequence

import numpy
from scipy.stats import ks_2samp


def _floats(sample) -> list[float]:
    values = [float(v) for v in sample]  # float(10**400) raises OverflowError
    if not values:
        raise ValueError("a sample must not be empty")
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"a sample holds a non-finite value: {v}")
    return values


def _bin_count(bins) -> int:
    if isinstance(bins, bool) or isinstance(bins, numpy.bool_):
        raise ValueError("a bool is not a number of bins")
    count = operator.index(bins)  # TypeError for a float
    if count < 2:
        raise ValueError(f"need at least 2 bins, got {count}")
    return count


def _shares(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    n = len(values)
    return [max(c / n, epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    count = _bin_count(bins)
    eps = float(epsilon)
    if math.isnan(eps) or eps <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    ref = _floats(reference)
    cur = _floats(current)
    edges = [float(e) for e in numpy.quantile(ref, [i / count for i in range(1, count)])]
    ref_shares = _shares(ref, edges, count, eps)
    cur_shares = _shares(cur, edges, count, eps)
    return math.fsum((c - r) * math.log(c / r) for c, r in zip(cur_shares, ref_shares))


def psi_level(value: float) -> str:
    if value > 0.25:
        return "major"
    if value >= 0.1:
        return "moderate"
    return "none"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = ks_2samp(_floats(reference), _floats(current))
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
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = level != "none" or bool(pvalue < alpha)
    return DriftReport(value, level, statistic, pvalue, bool(drifted))
