"""Drift checks written with plain Python loops: bisect for the bins, math.log for the sum."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Sequence

import numpy
import scipy.stats


def _checked(values, name):
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{name}: empty sample")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"{name}: {v} is not a finite number")
    return out


def _shares(values, edges, bins, epsilon):
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1  # how many edges are strictly below v
    n = len(values)
    return [c / n if c / n >= epsilon else epsilon for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    edges = [float(e) for e in numpy.quantile(ref, [k / bins for k in range(1, bins)])]
    total = 0.0
    for pc, pr in zip(_shares(cur, edges, bins, epsilon), _shares(ref, edges, bins, epsilon)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value: float) -> str:
    if value > 0.25:
        return "major"
    if value >= 0.1:
        return "moderate"
    return "none"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = scipy.stats.ks_2samp(_checked(reference, "reference"), _checked(current, "current"))
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
    if math.isnan(alpha) or alpha <= 0 or alpha >= 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    value = psi(reference, current, bins=bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    drifted = pvalue < alpha or level in ("moderate", "major")
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
