"""Day 13 drift (plain Python: sorted copies, bisect, math.log; scipy only for KS)."""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Sequence


def _floats(values) -> list[float]:
    out = []
    for v in values:
        x = float(v)  # OverflowError for 10**400
        if math.isnan(x) or math.isinf(x):
            raise ValueError(f"not a finite number: {v!r}")
        out.append(x)
    if not out:
        raise ValueError("empty sample")
    return out


def _bin_count(bins) -> int:
    if type(bins).__name__ in ("bool", "bool_"):
        raise ValueError("a bool is not a number of bins")
    if hasattr(bins, "__index__"):
        n = bins.__index__()
    else:
        f = float(bins)
        if not f.is_integer():
            raise ValueError(f"bins must be whole, got {bins!r}")
        n = int(f)
    if n < 2:
        raise ValueError("bins must be at least 2")
    return n


def _quantile(sorted_values: list[float], q: float) -> float:
    # numpy's default 'linear' method: virtual index (n-1)*q, lerp between neighbours
    n = len(sorted_values)
    virtual = (n - 1) * q
    lo = math.floor(virtual)
    hi = min(lo + 1, n - 1)
    t = virtual - lo
    a, b = sorted_values[lo], sorted_values[hi]
    if t >= 0.5:
        return b - (b - a) * (1 - t)
    return a + (b - a) * t


def _proportions(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = [0] * bins
    for x in values:
        counts[bisect_left(edges, x)] += 1  # edges strictly below x
    return [max(c / len(values), epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    n = _bin_count(bins)
    eps = float(epsilon)
    if not eps > 0:
        raise ValueError("epsilon must be > 0")
    ref = _floats(reference)
    cur = _floats(current)
    ordered = sorted(ref)
    edges = [_quantile(ordered, i / n) for i in range(1, n)]
    p_ref = _proportions(ref, edges, n, eps)
    p_cur = _proportions(cur, edges, n, eps)
    return math.fsum((c - r) * math.log(c / r) for c, r in zip(p_cur, p_ref))


def psi_level(value: float) -> str:
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    result = ks_2samp(_floats(reference), _floats(current))
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
    a = float(alpha)
    if not (a > 0.0 and a < 1.0):
        raise ValueError(f"alpha must be inside (0, 1), got {alpha!r}")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = level != "none" or pvalue < a
    return DriftReport(value, level, statistic, pvalue, True if drifted else False)
