"""Drift checks written with plain Python lists: bisect for the bins, math.log for the sum."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy
from scipy.stats import kstest


def _finite_copy(values: Iterable[float]) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError("a sample must not be empty")
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        raise ValueError(f"a sample holds non-finite values: {bad[:3]}")
    return out


class _Binner:
    def __init__(self, reference: list[float], bins: int) -> None:
        self.bins = bins
        self.edges = [float(e) for e in numpy.quantile(reference, [i / bins for i in range(1, bins)])]

    def shares(self, values: list[float], floor: float) -> list[float]:
        counts = Counter(bisect.bisect_left(self.edges, v) for v in values)
        return [max(counts.get(b, 0) / len(values), floor) for b in range(self.bins)]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    if bins < 2:
        raise ValueError(f"need at least 2 bins, got {bins}")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    ref = _finite_copy(reference)
    cur = _finite_copy(current)
    binner = _Binner(ref, bins)
    total = 0.0
    for c, r in zip(binner.shares(cur, epsilon), binner.shares(ref, epsilon)):
        total += (c - r) * math.log(c / r)
    return total


_LEVELS = ((0.1, "none"), (0.25, "moderate"))


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    return "moderate" if value <= 0.25 else "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = kstest(_finite_copy(reference), _finite_copy(current))
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
    if not (alpha > 0 and alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    amount = psi(reference, current, bins=bins)
    level = psi_level(amount)
    statistic, pvalue = ks_test(reference, current)
    drifted = True if level != "none" else pvalue < alpha
    return DriftReport(psi=amount, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
