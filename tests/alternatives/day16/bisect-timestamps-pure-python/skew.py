"""Train/serve skew with dictionaries and a hand-rolled PSI."""

from __future__ import annotations

import bisect
import operator
import math
from typing import Sequence

import numpy as np
import pandas as pd

EPSILON = 1e-4


def _by_entity(frame: pd.DataFrame, entity: str) -> dict:
    if entity not in frame.columns:
        raise KeyError(entity)
    keys = frame[entity].tolist()
    if len(set(keys)) != len(keys):
        raise ValueError(f"an entity appears twice in {entity!r}")
    return {k: i for i, k in enumerate(keys)}


def _none(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    off_rows = _by_entity(offline, entity)
    on_rows = _by_entity(online, entity)
    names = [c for c in offline.columns if c != entity]
    missing = [c for c in names if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    shared = [k for k in off_rows if k in on_rows]
    report = {}
    for c in names:
        a_values, b_values = offline[c].tolist(), online[c].tolist()
        bad = []
        for k in shared:
            a, b = (v.item() if isinstance(v, np.number) else v for v in (a_values[off_rows[k]], b_values[on_rows[k]]))
            if _none(a) or _none(b):
                same = _none(a) and _none(b)
            elif _num(a) and _num(b):
                same = a == b or _exact_gap(a, b) <= tolerance  # inf == inf agrees
            else:
                same = a == b
            if not same:
                bad.append(k)
        report[c] = sorted(bad)
    return report


def _proportions(values: list, edges: list, bins: int) -> list:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    return [max(c / len(values), EPSILON) for c in counts]


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    bins = operator.index(bins)
    if bins < 2:
        raise ValueError("bins < 2")
    if not threshold > 0 or math.isinf(threshold):
        raise ValueError("threshold must be positive and finite")
    out = {}
    for name in features:
        if name not in train or name not in serving:
            raise KeyError(name)
        t = [float(v) for v in train[name].tolist()]
        s = [float(v) for v in serving[name].tolist()]
        if not t or not s or not all(math.isfinite(v) for v in t + s):
            raise ValueError(f"{name} is empty or holds NaN/inf")
        edges = [float(e) for e in np.quantile(np.array(t), [i / bins for i in range(1, bins)])]
        pt, ps = _proportions(t, edges, bins), _proportions(s, edges, bins)
        psi = sum((b - a) * math.log(b / a) for a, b in zip(pt, ps))
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
