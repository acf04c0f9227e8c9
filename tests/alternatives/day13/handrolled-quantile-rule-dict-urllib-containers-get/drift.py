"""Drift checks in plain Python: hand-rolled linear quantiles, bisect for bins, Counter for counts."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from scipy.stats import kstest


def _checked(values: Iterable[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"the {what} sample is empty")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"the {what} sample holds a non-finite value ({v})")
    return out


def _linear_quantile(ordered: list[float], q: float) -> float:
    """numpy's default ('linear', type 7): interpolate at position (n - 1) * q."""
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    frac = h - lo
    a, b = ordered[lo], ordered[hi]
    if frac == 0 or a == b:
        return a
    # numpy's lerp: computed from the nearer end for accuracy
    return b - (b - a) * (1 - frac) if frac >= 0.5 else a + (b - a) * frac


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _checked(reference, "reference")
    cur = _checked(current, "current")
    if bins < 2:
        raise ValueError("at least two bins are needed")
    if not epsilon > 0:
        raise ValueError("epsilon must be positive")
    ordered = sorted(ref)
    edges = [_linear_quantile(ordered, i / bins) for i in range(1, bins)]

    def shares(sample: list[float]) -> list[float]:
        tally = Counter(bisect_left(edges, x) for x in sample)
        return [max(tally[b] / len(sample), epsilon) for b in range(bins)]

    total = 0.0
    for pc, pr in zip(shares(cur), shares(ref)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value: float) -> str:
    if value < 0.1:
        return "none"
    return "moderate" if value <= 0.25 else "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = kstest(_checked(reference, "reference"), _checked(current, "current"))
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
        raise ValueError("alpha must be strictly between 0 and 1")
    ks_stat, ks_p = ks_test(reference, current)
    value = psi(reference, current, bins)
    level = psi_level(value)
    drifted = ks_p < alpha or level != "none"
    return DriftReport(psi=value, level=level, ks_statistic=ks_stat, ks_pvalue=ks_p, drifted=bool(drifted))
