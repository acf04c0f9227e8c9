"""Train/serve skew with plain dicts, and PSI counted in pure Python."""

from __future__ import annotations

import bisect
import math
import operator
from typing import Sequence

import numpy as np
import pandas as pd


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _rows(frame: pd.DataFrame, entity: str, features: list) -> dict:
    if entity not in frame.columns:
        raise KeyError(f"no entity column {entity!r}")
    out: dict = {}
    for record in frame[[entity, *features]].to_dict("records"):
        key = record.pop(entity)
        if key in out:
            raise ValueError(f"entity {key!r} appears twice")
        out[key] = record
    return out


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    absent = [c for c in features if c not in online.columns]
    if absent:
        raise KeyError(f"online lacks {absent}")
    off, on = _rows(offline, entity, features), _rows(online, entity, features)
    shared = [k for k in off if k in on]
    report = {name: [] for name in features}
    for key in shared:
        for name in features:
            a, b = off[key][name], on[key][name]
            a_na, b_na = a is None or a is pd.NA or a is pd.NaT or (isinstance(a, float) and math.isnan(a)), \
                b is None or b is pd.NA or b is pd.NaT or (isinstance(b, float) and math.isnan(b))
            if a_na or b_na:
                same = a_na and b_na
            elif _is_number(a) and _is_number(b):
                if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
                    same = abs(int(a) - int(b)) <= tolerance
                else:
                    same = a == b or _exact_gap(a, b) <= tolerance
            else:
                same = a == b
            if not same:
                report[name].append(key)
    return {name: sorted(keys) for name, keys in report.items()}


def _proportions(sample: list, edges: list, bins: int) -> list:
    counts = [0] * bins
    for v in sample:
        counts[bisect.bisect_left(edges, v)] += 1
    return [max(c / len(sample), 1e-4) for c in counts]


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    try:
        b_ok = not isinstance(bins, bool) and operator.index(bins) >= 2
    except TypeError:
        b_ok = False
    if not b_ok:
        raise ValueError("bins must be an integer >= 2")
    try:
        t_ok = not isinstance(threshold, str) and float(threshold) > 0 and math.isfinite(float(threshold))
    except (TypeError, ValueError):
        t_ok = False
    if not t_ok:
        raise ValueError("threshold must be positive and finite")
    out = {}
    for name in features:
        if name not in train.columns or name not in serving.columns:
            raise KeyError(name)
        t = [float(v) for v in train[name].tolist()]
        s = [float(v) for v in serving[name].tolist()]
        if not t or not s or not all(math.isfinite(v) for v in t + s):
            raise ValueError(f"{name} must be non-empty and finite")
        edges = list(np.quantile(np.array(t), [k / bins for k in range(1, bins)]))
        pt, ps = _proportions(t, edges, bins), _proportions(s, edges, bins)
        psi = math.fsum((b - a) * math.log(b / a) for a, b in zip(pt, ps))
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
