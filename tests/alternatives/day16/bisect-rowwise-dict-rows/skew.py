"""Skew with dictionaries of rows, and PSI with explicit edge comparisons."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

EPSILON = 1e-4


def _rows(frame, entity, columns):
    if entity not in frame.columns:
        raise KeyError(f"no entity column {entity!r}")
    keys = frame[entity].tolist()
    if len(set(keys)) != len(keys):
        raise ValueError(f"an entity is repeated in {entity!r}")
    return {k: dict(zip(columns, vals)) for k, vals in zip(keys, frame[columns].itertuples(index=False))}


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _same(a, b, tolerance):
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    if _is_number(a) and _is_number(b):
        a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))  # never compared in float32
        if a == b:  # equal numbers agree, infinities too
            return True
        if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
            return abs(int(a) - int(b)) <= tolerance  # exact above 2**53
        return _exact_gap(a, b) <= tolerance
    return a == b


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns:
        raise KeyError(entity)
    columns = [c for c in offline.columns if c != entity]
    absent = [c for c in columns if c not in online.columns]
    if absent:
        raise KeyError(f"online lacks {absent}")
    off, on = _rows(offline, entity, columns), _rows(online, entity, columns)
    common = [k for k in off if k in on]
    return {c: sorted(k for k in common if not _same(off[k][c], on[k][c], tolerance)) for c in columns}


def _proportions(values, edges, bins):
    index = (values[:, None] > edges[None, :]).sum(axis=1)
    counts = np.array([(index == b).sum() for b in range(bins)], dtype=float)
    return [max(c / len(values), EPSILON) for c in counts]


def distribution_skew(train, serving, features, *, bins=10, threshold=0.1):
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        raise TypeError(f"bins must be an integer, not {type(bins).__name__}")
    if not bins >= 2:
        raise ValueError("bins must be at least 2")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        for frame, side in ((train, "train"), (serving, "serving")):
            if name not in frame.columns:
                raise KeyError(f"{name!r} missing from {side}")
        t = np.asarray(train[name], dtype=float)
        s = np.asarray(serving[name], dtype=float)
        if len(t) == 0 or len(s) == 0:
            raise ValueError(f"{name!r}: empty")
        if not (np.isfinite(t).all() and np.isfinite(s).all()):
            raise ValueError(f"{name!r}: NaN or infinity")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt, ps = _proportions(t, edges, bins), _proportions(s, edges, bins)
        psi = sum((b - a) * (math.log(b) - math.log(a)) for a, b in zip(pt, ps))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
