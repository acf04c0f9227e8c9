"""Has the data a model sees moved away from the data it was trained on? (plain-Python style)"""

from __future__ import annotations

import bisect
import math
import operator
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy
import scipy.stats


def _as_floats(values, what: str) -> list[float]:
    out = [float(v) for v in values]  # OverflowError for an int no float holds
    if not out:
        raise ValueError(f"{what}: empty sample")
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what}: non-finite value {v}")
    return out


def _check_bins(bins) -> int:
    if type(bins) is bool:
        raise ValueError("bins must be at least 2")
    try:
        n = operator.index(bins)
    except TypeError:
        raise TypeError(f"bins must be a whole number, got {bins!r}") from None
    if n < 2:
        raise ValueError(f"bins must be at least 2, got {n}")
    return n


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    n_bins = _check_bins(bins)
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon must be a number, got {epsilon!r}") from None
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    ref = _as_floats(reference, "reference")
    cur = _as_floats(current, "current")
    levels = [i / n_bins for i in range(1, n_bins)]
    edges = [float(e) for e in numpy.quantile(numpy.array(ref), levels)]

    def shares(values: list[float]) -> list[float]:
        counts = Counter(bisect.bisect_left(edges, v) for v in values)
        return [max(counts[i] / len(values), eps) for i in range(n_bins)]

    total = 0.0
    for c, r in zip(shares(cur), shares(ref)):
        total += (c - r) * math.log(c / r)
    return total


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    res = scipy.stats.ks_2samp(_as_floats(reference, "reference"), _as_floats(current, "current"))
    return float(res.statistic), float(res.pvalue)


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
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number, got {alpha!r}") from None
    if not (0.0 < a < 1.0):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = level != "none" or pvalue < a
    return DriftReport(value, level, statistic, pvalue, True if drifted else False)
