"""PSI with the standard library's bisect and Counter; numpy only for the quantile edges."""
from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy
from scipy.stats import ks_2samp


def _checked(sample, what: str) -> list[float]:
    values = [float(v) for v in sample]  # a fresh list: the caller's data is never touched
    if not values:
        raise ValueError(f"the {what} sample is empty")
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"the {what} sample holds NaN or infinity")
    return values


class _Binner:
    def __init__(self, reference: list[float], bins: int) -> None:
        self.bins = bins
        self.edges = list(numpy.quantile(reference, [i / bins for i in range(1, bins)]))

    def shares(self, values: list[float], epsilon: float) -> list[float]:
        counts = Counter(bisect.bisect_left(self.edges, v) for v in values)
        return [max(counts.get(b, 0) / len(values), epsilon) for b in range(self.bins)]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref, cur = _checked(reference, "reference"), _checked(current, "current")
    if bins < 2:
        raise ValueError("at least two bins")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError("epsilon must be positive")
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
    result = ks_2samp(_checked(reference, "reference"), _checked(current, "current"))
    return result.statistic.item(), result.pvalue.item()


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
        raise ValueError(f"alpha {alpha} outside (0, 1)")
    value = psi(reference, current, bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    drifted = True if level != "none" else pvalue < alpha
    return DriftReport(value, level, statistic, pvalue, bool(drifted))
