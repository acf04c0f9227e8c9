"""Alt B: plain Python bins (bisect on the numpy edges), Counter, math.log, scipy.stats.kstest."""
from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy
import scipy.stats


def _check(values) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError("empty sample")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"non-finite value {v}")
    return out


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    ref, cur = _check(reference), _check(current)
    if bins < 2:
        raise ValueError(f"bins={bins}: need at least 2")
    if math.isnan(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon={epsilon}: must be > 0")
    edges = [float(e) for e in numpy.quantile(ref, [i / bins for i in range(1, bins)])]

    def shares(sample):
        counts = Counter(bisect.bisect_left(edges, x) for x in sample)
        return [max(counts.get(b, 0) / len(sample), epsilon) for b in range(bins)]

    total = 0.0
    for pc, pr in zip(shares(cur), shares(ref)):
        total += (pc - pr) * math.log(pc / pr)
    return total


def psi_level(value: float) -> str:
    return "major" if value > 0.25 else ("moderate" if value >= 0.1 else "none")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    result = scipy.stats.kstest(_check(reference), _check(current))
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
        raise ValueError(f"alpha={alpha} outside (0, 1)")
    score = psi(reference, current, bins=bins)
    ks_stat, ks_p = ks_test(reference, current)
    level = psi_level(score)
    return DriftReport(psi=score, level=level, ks_statistic=ks_stat, ks_pvalue=ks_p,
                       drifted=bool((level != "none") or (ks_p < alpha)))
