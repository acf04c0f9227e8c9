from __future__ import annotations

import math
from numbers import Number
from typing import Sequence

import numpy as np
import pandas as pd


def _agree(a, b, tol):
    ma, mb = pd.isna(a), pd.isna(b)
    if ma or mb:
        return bool(ma and mb)
    num = lambda v: isinstance(v, (Number, np.number)) and not isinstance(v, (bool, np.bool_))
    if num(a) and num(b):
        return bool(a == b) or _exact_gap(a, b) <= tol  # inf == inf agrees (inf - inf is NaN)
    return bool(a == b)


def _python_numbers(frame):
    """A copy whose object columns hold Python numbers, not numpy scalars (np.uint32(5) - np.uint32(7) wraps)."""
    import numpy
    import pandas

    plain = {}
    for column in frame.columns:
        values = frame[column].tolist() if frame[column].dtype == object else ()
        if any(isinstance(v, numpy.number) for v in values):
            plain[column] = pandas.Series([v.item() if isinstance(v, numpy.number) else v for v in values],
                                          index=frame.index, dtype=object)
    if not plain:
        return frame  # nothing to convert: the caller's own frame, read only
    out = frame.copy()
    for column, series in plain.items():
        out[column] = series
    return out


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    offline, online = _python_numbers(offline), _python_numbers(online)
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    feats = [c for c in offline.columns if c != entity]
    for c in feats:
        if c not in online.columns:
            raise KeyError(c)
    for frame in (offline, online):
        if frame[entity].duplicated().any():
            raise ValueError("repeated entity")
    off = offline[[entity] + feats].rename(columns={c: ("off", c) for c in feats})
    on = online[[entity] + feats].rename(columns={c: ("on", c) for c in feats})
    both = off.astype({entity: object}).merge(on.astype({entity: object}), on=entity, how="inner")
    out = {}
    for c in feats:
        out[c] = sorted(e for e, a, b in zip(both[entity], both[("off", c)], both[("on", c)])
                        if not _agree(a, b, tolerance))
    return out


def distribution_skew(train, serving, features, *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError("bins")
    if bins < 2:
        raise ValueError("bins < 2")
    if not (isinstance(threshold, (int, float, np.integer, np.floating)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold")
    out = {}
    for f in features:
        if f not in train.columns:
            raise KeyError(f)
        if f not in serving.columns:
            raise KeyError(f)
        t = train[f].to_numpy(dtype=float)
        s = serving[f].to_numpy(dtype=float)
        for a in (t, s):
            if a.size == 0 or not np.isfinite(a).all():
                raise ValueError(f"{f}: empty or not finite")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        ps = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        out[f] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
