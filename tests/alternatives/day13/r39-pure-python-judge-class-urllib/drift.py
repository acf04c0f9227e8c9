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
import operator


class _Sample:
    """A validated, private copy of a sample as Python floats."""

    def __init__(self, values) -> None:
        try:
            items = list(values.flat) if hasattr(values, "flat") else list(values)
        except TypeError as exc:
            raise ValueError(f"not a sample: {values!r}") from exc
        if not items:
            raise ValueError("empty sample")
        self.values: list[float] = []
        for v in items:
            if isinstance(v, bool) or type(v).__name__ == "bool_":
                raise ValueError(f"not a number: {v!r}")
            try:
                f = float(v)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f"not a finite real number: {v!r}") from exc
            if not math.isfinite(f):
                raise ValueError(f"not finite: {v!r}")
            self.values.append(f)
        self.sorted = sorted(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def quantile(self, q: float) -> float:
        # numpy's default "linear" method (type 7)
        xs = self.sorted
        h = (len(xs) - 1) * q
        lo = math.floor(h)
        hi = min(lo + 1, len(xs) - 1)
        frac = h - lo
        a, b = xs[lo], xs[hi]
        if frac == 0 or a == b:
            return a
        # numpy's lerp: a + (b - a) * t, or b - (b - a) * (1 - t) when t >= 0.5
        diff = b - a
        if math.isinf(diff):
            return a * (1 - frac) + b * frac
        return a + diff * frac if frac < 0.5 else b - diff * (1 - frac)

    def shares(self, edges: list[float], eps: float) -> list[float]:
        counts = [0] * (len(edges) + 1)
        for v in self.values:
            counts[bisect.bisect_left(edges, v)] += 1
        return [max(c / len(self.values), eps) for c in counts]


def _count(bins) -> int:
    if isinstance(bins, bool):
        raise ValueError("bins must be an integer")
    try:
        b = operator.index(bins)
    except TypeError as exc:
        raise ValueError(f"bins must be an integer: {bins!r}") from exc
    if b < 2:
        raise ValueError("bins must be >= 2")
    return b


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index of `current` against `reference` (README task 1 has the exact recipe).

    Bins are cut at the reference's quantiles, a value on an edge belongs to the bin
    below, values outside the reference range land in the outer bins, and a bin's
    proportion below `epsilon` counts as `epsilon` so an empty bin cannot divide by
    zero. Empty or non-finite samples, bins < 2 or an epsilon that is not > 0 (NaN too) are a ValueError.
    The samples are only read: the caller's lists and arrays come back unchanged.
    """
    ref, cur = _Sample(reference), _Sample(current)
    b = _count(bins)
    try:
        eps = float(epsilon)
    except (TypeError, ValueError) as exc:
        raise ValueError("epsilon must be a number") from exc
    if not eps > 0 or math.isinf(eps):
        raise ValueError("epsilon must be > 0")
    edges = [ref.quantile(i / b) for i in range(1, b)]
    total = 0.0
    for pr, pc in zip(ref.shares(edges, eps), cur.shares(edges, eps)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value: float) -> str:
    """'none' below 0.1, 'moderate' from 0.1 up to and including 0.25, 'major' above."""
    return "none" if value < 0.1 else ("moderate" if value <= 0.25 else "major")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: (statistic, p-value); bad samples as for psi.

    Like psi it only reads its samples: the caller's lists and arrays come back unchanged.
    """
    from scipy.stats import ks_2samp

    ref, cur = _Sample(reference), _Sample(current)
    result = ks_2samp(ref.values, cur.values, alternative="two-sided")
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
    """PSI and KS together; drifted when PSI shows a shift or KS rejects 'same distribution' at alpha.

    alpha outside (0, 1) is a ValueError.
    """
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise ValueError("alpha must be a number") from exc
    if isinstance(alpha, bool) or not 0.0 < a < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    value = psi(reference, current, bins)
    level = psi_level(value)
    statistic, pvalue = ks_test(reference, current)
    drifted = True if level != "none" else (pvalue < a)
    return DriftReport(psi=value, level=level, ks_statistic=statistic, ks_pvalue=pvalue, drifted=bool(drifted))
