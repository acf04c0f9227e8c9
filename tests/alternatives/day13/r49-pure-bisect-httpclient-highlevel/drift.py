"""Drift checks written mostly in plain Python: bisect for binning, math for the sum."""

from __future__ import annotations

import bisect
import math
import operator
from dataclasses import dataclass
from typing import Sequence

import numpy
import scipy.stats


def _floats(values) -> list[float]:
    try:
        items = numpy.ravel(values) if isinstance(values, numpy.ndarray) else values
        out = [float(v) for v in items]
    except OverflowError:  # a Python int such as 10**400 that no float holds
        raise ValueError("sample holds an int too large for a float") from None
    if not out:
        raise ValueError("a sample must not be empty")
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"non-finite value in sample: {v}")
    return out


def _check_bins(bins) -> int:
    try:
        n = operator.index(bins)
    except TypeError:
        raise ValueError(f"bins must be an integer: {bins!r}") from None
    if n < 2:
        raise ValueError(f"need at least 2 bins, got {n}")
    return n


def _positive(x, what: str) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a real number: {x!r}") from None
    return value


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _floats(reference)
    cur = _floats(current)
    n = _check_bins(bins)
    eps = _positive(epsilon, "epsilon")
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0: {epsilon!r}")
    edges = [float(e) for e in numpy.quantile(ref, [i / n for i in range(1, n)])]

    def shares(sample: list[float]) -> list[float]:
        counts = [0] * n
        for x in sample:
            counts[bisect.bisect_left(edges, x)] += 1
        return [max(c / len(sample), eps) for c in counts]

    total = 0.0
    for pc, pr in zip(shares(cur), shares(ref)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value: float) -> str:
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    res = scipy.stats.ks_2samp(_floats(reference), _floats(current))
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
    a = _positive(alpha, "alpha")
    if not (a > 0 and a < 1):
        raise ValueError(f"alpha must be in (0, 1): {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = True if level != "none" else (True if pvalue < a else False)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=drifted)
