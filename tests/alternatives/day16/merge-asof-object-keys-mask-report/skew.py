"""Task 3: skew via merge."""

from __future__ import annotations

import math
import operator
from typing import Sequence

import numpy as np
import pandas as pd


def _agree(a, b, tol) -> bool:
    ma, mb = pd.isna(a), pd.isna(b)
    if ma or mb:
        return bool(ma and mb)
    num = (int, float, np.integer, np.floating)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, (bool, np.bool_)) \
            and not isinstance(b, (bool, np.bool_)):
        if isinstance(a, np.generic):
            a = a.item()
        if isinstance(b, np.generic):
            b = b.item()
        if a == b:
            return True
        return _exact_gap(a, b) <= tol
    return bool(a == b)


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    for frame in (offline, online):
        if frame[entity].astype(object).duplicated().any():
            raise ValueError("repeated entity")
    off = offline[[entity] + features].copy()
    on = online[[entity] + features].copy()
    off[entity] = off[entity].astype(object)
    on[entity] = on[entity].astype(object)
    both = off.merge(on, on=entity, suffixes=("_off", "_on"))
    report = {}
    for c in features:
        keys = both[entity].tolist()
        a_vals = both[f"{c}_off"].tolist()
        b_vals = both[f"{c}_on"].tolist()
        report[c] = sorted(k for k, a, b in zip(keys, a_vals, b_vals) if not _agree(a, b, tolerance))
    return report


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    bins = operator.index(bins)  # an integer (int or numpy); 2.9 and "5" raise TypeError
    if bins < 2:
        raise ValueError("bins must be >= 2")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        if name not in train.columns:
            raise KeyError(name)
        if name not in serving.columns:
            raise KeyError(name)
        t = train[name].to_numpy(dtype=float)
        s = serving[name].to_numpy(dtype=float)
        for arr in (t, s):
            if arr.size == 0 or not np.isfinite(arr).all():
                raise ValueError(f"{name}: empty or not finite")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        ps = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
