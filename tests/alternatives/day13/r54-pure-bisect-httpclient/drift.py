"""Drift checks, pure-Python counting style (bisect + Counter), numpy only for the quantile edges."""

from __future__ import annotations

import math
import numbers
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def _floats(sample, name: str) -> list[float]:
    values = [float(v) for v in sample]  # float(10**400) raises OverflowError
    if not values:
        raise ValueError(f"the {name} sample is empty")
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"the {name} sample holds a non-finite value {v}")
    return values


def _bin_count(bins) -> int:
    if isinstance(bins, bool) or isinstance(bins, np.bool_):
        raise ValueError("bins must be a whole number >= 2, not a bool")
    if isinstance(bins, numbers.Integral):
        count = int(bins)
    elif isinstance(bins, numbers.Real) and float(bins).is_integer():
        count = int(bins)
    else:
        raise TypeError(f"bins must be a whole number, got {bins!r}")
    if count < 2:
        raise ValueError(f"bins must be at least 2, got {count}")
    return count


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    count = _bin_count(bins)
    eps = float(epsilon)
    if math.isnan(eps) or eps <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    ref = _floats(reference, "reference")
    cur = _floats(current, "current")
    levels = [i / count for i in range(1, count)]
    edges = [float(e) for e in np.quantile(np.array(ref), levels)]

    def shares(values: list[float]) -> list[float]:
        tally = Counter(bisect_left(edges, v) for v in values)
        return [max(tally[i] / len(values), eps) for i in range(count)]

    total = 0.0
    for p_cur, p_ref in zip(shares(cur), shares(ref)):
        total += (p_cur - p_ref) * math.log(p_cur / p_ref)
    return total


def psi_level(value: float) -> str:
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = stats.ks_2samp(_floats(reference, "reference"), _floats(current, "current"))
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
    cut = float(alpha)
    if not (0.0 < cut < 1.0):
        raise ValueError(f"alpha must be inside (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = True if level != "none" else (pvalue < cut) is True or bool(pvalue < cut)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
