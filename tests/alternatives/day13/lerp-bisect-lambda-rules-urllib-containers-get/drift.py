"""Has the data a model sees moved away from the data it was trained on?

Two complementary checks on one feature: the Population Stability Index (how much
probability mass moved between bins cut at the reference's quantiles; an effect
size with industry rules of thumb) and the two-sample Kolmogorov-Smirnov test (is
the difference more than sampling noise; with big samples even tiny shifts are
"significant", which is why PSI sits beside it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
import bisect
import math
import numbers

from scipy.stats import ks_2samp


def _checked(values) -> list[float]:
    out = [float(v) for v in values]  # a new list: the caller's data is never touched
    if not out:
        raise ValueError("empty sample")
    if any(not math.isfinite(v) for v in out):
        raise ValueError("NaN or infinite value in sample")
    return out


def _quantile_linear(ordered: list[float], q: float) -> float:
    """numpy.quantile's default ('linear') on an already sorted list."""
    position = (len(ordered) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    t = position - below
    a, b = ordered[below], ordered[above]
    if t >= 0.5:
        return b - (b - a) * (1 - t)
    return a + (b - a) * t


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference` (README task 1 has the exact recipe).

    Bins are cut at the reference's quantiles, a value on an edge belongs to the bin
    below, values outside the reference range land in the outer bins, and a bin's
    proportion below `epsilon` counts as `epsilon` so an empty bin cannot divide by
    zero. Empty or non-finite samples, bins < 2 or an epsilon that is not > 0 (NaN too) are a ValueError.
    The samples are only read: the caller's lists and arrays come back unchanged.
    """
    if not isinstance(bins, numbers.Integral) or bins < 2:
        raise ValueError("need at least two bins")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError("epsilon must be positive")
    ref, cur = _checked(reference), _checked(current)
    ordered = sorted(ref)
    edges = [_quantile_linear(ordered, i / bins) for i in range(1, bins)]
    total = 0.0
    ref_counts, cur_counts = [0] * bins, [0] * bins
    for x in ref:
        ref_counts[bisect.bisect_left(edges, x)] += 1
    for x in cur:
        cur_counts[bisect.bisect_left(edges, x)] += 1
    for rc, cc in zip(ref_counts, cur_counts):
        p_ref = max(rc / len(ref), epsilon)
        p_cur = max(cc / len(cur), epsilon)
        total += (p_cur - p_ref) * math.log(p_cur / p_ref)
    return total


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    for limit, name in ((0.1, "none"), (0.25, None)):
        if name == "none" and value < limit:
            return name
        if name is None and value <= limit:
            return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value); bad samples as for psi."""
    res = ks_2samp(_checked(reference), _checked(current), alternative="two-sided")
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
    """PSI and KS together; drifted when PSI shows a shift or KS rejects 'same distribution' at alpha.

    alpha outside (0, 1) is a ValueError.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha} is not in (0, 1)")
    stat, p = ks_test(reference, current)
    value = psi(reference, current, bins=bins)
    level = psi_level(value)
    return DriftReport(psi=value, level=level, ks_statistic=stat, ks_pvalue=p,
                       drifted=bool((level != "none") or (p < alpha)))
