"""Drift checks written with the standard library (bisect, math) around numpy.quantile for the cut points."""

from __future__ import annotations

import bisect
import math
import operator
from dataclasses import dataclass
from typing import Sequence

import numpy
import scipy.stats


def _floats(values) -> list[float]:
    out = [float(v) for v in values]  # a new list: nothing of the caller's is sorted or changed
    if not out:
        raise ValueError("a sample must hold at least one value")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"a sample must hold finite numbers, found {v}")
    return out


def _check_settings(bins, epsilon) -> int:
    try:
        n = operator.index(bins)
    except TypeError:
        raise ValueError(f"bins must be an integer, got {bins!r}") from None
    if n < 2:
        raise ValueError(f"bins must be >= 2, got {n}")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    return n


class _Binner:
    def __init__(self, reference: list[float], bins: int) -> None:
        self.bins = bins
        self.edges = [float(e) for e in numpy.quantile(reference, [i / bins for i in range(1, bins)])]

    def shares(self, sample: list[float], epsilon: float) -> list[float]:
        counts = [0] * self.bins
        for value in sample:
            counts[bisect.bisect_left(self.edges, value)] += 1
        return [max(count / len(sample), epsilon) for count in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    n = _check_settings(bins, epsilon)
    eps = float(epsilon)
    ref, cur = _floats(reference), _floats(current)
    binner = _Binner(ref, n)
    total = 0.0
    for p_cur, p_ref in zip(binner.shares(cur, eps), binner.shares(ref, eps)):
        total += (p_cur - p_ref) * math.log(p_cur / p_ref)
    return total


def psi_level(value: float) -> str:
    for upper, name in ((0.1, "none"), (0.25, "moderate")):
        if value < upper or (name == "moderate" and value == upper):
            return name
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    statistic, pvalue = scipy.stats.ks_2samp(_floats(reference), _floats(current))[:2]
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
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    value = psi(reference, current, bins=bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = True if level != "none" else (pvalue < alpha) == True  # noqa: E712 (a numpy.bool_ compared to True)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
