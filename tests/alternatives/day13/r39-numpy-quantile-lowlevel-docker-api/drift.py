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
import math
import numbers

import numpy as np
import scipy.stats


def _sample(values) -> np.ndarray:
    if isinstance(values, np.ndarray):
        items = values.ravel().tolist() if values.dtype != object else list(values.ravel())
    else:
        items = list(values)
    if len(items) == 0:
        raise ValueError("empty sample")
    out = []
    for v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number)):
            raise ValueError(f"not a real number: {v!r}")
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"not finite: {v!r}")
        out.append(f)
    return np.array(out, dtype=float)


def _bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (numbers.Integral, np.integer)):
        raise ValueError(f"bins must be an integer: {bins!r}")
    b = int(bins)
    if b < 2:
        raise ValueError("bins must be >= 2")
    return b


def _positive(x, what) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.number)):
        raise ValueError(f"{what} must be a real number")
    f = float(x)
    if not (f > 0) or not math.isfinite(f):
        raise ValueError(f"{what} must be > 0")
    return f


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference` (README task 1 has the exact recipe).

    Bins are cut at the reference's quantiles, a value on an edge belongs to the bin
    below, values outside the reference range land in the outer bins, and a bin's
    proportion below `epsilon` counts as `epsilon` so an empty bin cannot divide by
    zero. Empty or non-finite samples, bins < 2 or an epsilon that is not > 0 (NaN too) are a ValueError.
    The samples are only read: the caller's lists and arrays come back unchanged.
    """
    ref = _sample(reference)
    cur = _sample(current)
    b = _bins(bins)
    eps = _positive(epsilon, "epsilon")
    edges = np.quantile(ref, np.arange(1, b) / b)
    p_ref = np.maximum(np.bincount(np.searchsorted(edges, ref, side="left"), minlength=b) / len(ref), eps)
    p_cur = np.maximum(np.bincount(np.searchsorted(edges, cur, side="left"), minlength=b) / len(cur), eps)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    v = float(value)
    if v < 0.1:
        return "none"
    if v <= 0.25:
        return "moderate"
    return "major"


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value); bad samples as for psi.

    Like psi it only reads its samples: the caller's lists and arrays come back unchanged.
    """
    ref = _sample(reference)
    cur = _sample(current)
    res = scipy.stats.ks_2samp(ref, cur)
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
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (numbers.Real, np.number)):
        raise ValueError("alpha must be a real number")
    a = float(alpha)
    if not (0 < a < 1):
        raise ValueError("alpha must be in (0, 1)")
    value = psi(reference, current, bins)
    level = psi_level(value)
    stat, p = ks_test(reference, current)
    return DriftReport(value, level, stat, p, bool(level != "none" or p < a))
