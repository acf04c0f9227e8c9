"""Pure-Python PSI (bisect, hand-written linear quantile); scipy only for KS."""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Sequence


def _clean(values, what):
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{what} is empty")
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what} holds {v}")
    return out


def _quantile(sorted_values, q):
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def psi(reference, current, bins=10, epsilon=1e-4):
    ref = _clean(reference, "reference")
    cur = _clean(current, "current")
    if not bins >= 2:
        raise ValueError("need at least 2 bins")
    if not epsilon > 0:
        raise ValueError("epsilon must be positive")
    ordered = sorted(ref)
    edges = [_quantile(ordered, i / bins) for i in range(1, bins)]

    def shares(sample):
        counts = [0] * bins
        for x in sample:
            counts[bisect.bisect_left(edges, x)] += 1
        return [max(c / len(sample), epsilon) for c in counts]

    total = 0.0
    for pc, pr in zip(shares(cur), shares(ref)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value):
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference, current):
    from scipy.stats import ks_2samp

    res = ks_2samp(_clean(reference, "reference"), _clean(current, "current"), alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class DriftReport:
    psi: float
    level: str
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


def detect_drift(reference, current, bins=10, alpha=0.01):
    if not (alpha > 0 and alpha < 1):
        raise ValueError("alpha must lie in (0, 1)")
    ref = _clean(reference, "reference")
    cur = _clean(current, "current")
    value = psi(ref, cur, bins=bins)
    statistic, pvalue = ks_test(ref, cur)
    level = psi_level(value)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue,
                       drifted=bool((level != "none") or (pvalue < alpha)))
