"""Drift in plain Python: a hand-written linear quantile, bisect for the bins, scipy only for KS."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Sequence


def _floats(values, what: str) -> list[float]:
    out = [float(v) for v in values]  # a new list: the caller's data is never touched
    if not out:
        raise ValueError(f"{what}: empty sample")
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what}: {v} is not a finite number")
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """numpy's default (linear) quantile of an already sorted list."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    t = pos - lo
    a, b = ordered[lo], ordered[hi]
    diff = b - a
    return a + diff * t if t < 0.5 else b - diff * (1 - t)


def _proportions(values: list[float], edges: list[float], bins: int, epsilon: float) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    return [max(c / len(values), epsilon) for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref, cur = _floats(reference, "reference"), _floats(current, "current")
    if bins < 2:
        raise ValueError(f"bins={bins}: need at least 2")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon={epsilon}: must be > 0")
    ordered = sorted(ref)
    edges = [_quantile(ordered, i / bins) for i in range(1, bins)]
    p_ref = _proportions(ref, edges, bins, epsilon)
    p_cur = _proportions(cur, edges, bins, epsilon)
    return math.fsum((c - r) * math.log(c / r) for c, r in zip(p_cur, p_ref))


def psi_level(value: float) -> str:
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    res = ks_2samp(_floats(reference, "reference"), _floats(current, "current"), alternative="two-sided")
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
    if math.isnan(alpha) or alpha <= 0 or alpha >= 1:
        raise ValueError(f"alpha={alpha} lies outside (0, 1)")
    value = psi(reference, current, bins)
    statistic, pvalue = ks_test(reference, current)
    level = psi_level(value)
    drifted = True if level != "none" else (True if pvalue < alpha else False)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=drifted)
