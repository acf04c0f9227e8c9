"""Drift checks, binning by hand: bisect over the quantile edges, a Counter per sample."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy
import scipy.stats


def _checked(values, what: str) -> list[float]:
    out = [float(v) for v in values]  # a new list; the caller's sample is only read
    if not out:
        raise ValueError(f"{what} is empty")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"{what} holds a non-finite value: {v}")
    return out


def _shares(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = Counter(bisect.bisect_left(edges, v) for v in values)
    n = len(values)
    return [max(counts.get(b, 0) / n, epsilon) for b in range(bins)]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError("epsilon must be > 0")
    edges = [float(e) for e in numpy.quantile(ref, [i / bins for i in range(1, bins)])]
    total = 0.0
    for c, r in zip(_shares(cur, edges, bins, epsilon), _shares(ref, edges, bins, epsilon)):
        total += (c - r) * math.log(c / r)
    return total


LEVELS = ((0.1, "none"), (0.25, "moderate"))


def psi_level(value: float) -> str:
    if value < LEVELS[0][0]:
        return LEVELS[0][1]
    if value <= LEVELS[1][0]:
        return LEVELS[1][1]
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    res = scipy.stats.kstest(ref, cur)  # two samples given: the two-sample, two-sided test
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
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    stat, pvalue = ks_test(reference, current)
    value = psi(reference, current, bins=bins)
    level = psi_level(value)
    drifted = level != "none" or pvalue < alpha
    return DriftReport(psi=value, level=level, ks_statistic=stat, ks_pvalue=pvalue, drifted=bool(drifted))
