"""Plain-Python binning (bisect + Counter); numpy only for the quantile edges; KS via scipy.stats.kstest."""
from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _clean(values, what):
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{what}: empty sample")
    if any(not math.isfinite(v) for v in out):
        raise ValueError(f"{what}: NaN or infinite value")
    return out


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref = _clean(reference, "reference")
    cur = _clean(current, "current")
    if bins < 2:
        raise ValueError("need at least two bins")
    if not epsilon > 0:  # NaN too
        raise ValueError("epsilon must be positive")
    edges = [float(e) for e in np.quantile(ref, [i / bins for i in range(1, bins)])]

    def shares(sample):
        counts = Counter(bisect.bisect_left(edges, x) for x in sample)
        return [max(counts.get(b, 0) / len(sample), epsilon) for b in range(bins)]

    total = 0.0
    for c, r in zip(shares(cur), shares(ref)):
        total += (c - r) * math.log(c / r)
    return total


def psi_level(value: float) -> str:
    return "major" if value > 0.25 else ("moderate" if value >= 0.1 else "none")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = stats.kstest(_clean(reference, "reference"), _clean(current, "current"))
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
        raise ValueError("alpha must lie strictly between 0 and 1")
    value = psi(reference, current, bins=bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue,
                       drifted=bool((level != "none") or (pvalue < alpha)))
