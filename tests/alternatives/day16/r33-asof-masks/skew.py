"""Train/serve skew: a merge on the entity, then value-by-value comparison; PSI."""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    if _is_bool(a) or _is_bool(b):
        return _is_bool(a) and _is_bool(b) and bool(a) == bool(b)
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        a = a.item() if isinstance(a, np.generic) else a
        b = b.item() if isinstance(b, np.generic) else b
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    okeys, nkeys = offline[entity].astype(object), online[entity].astype(object)
    if okeys.duplicated().any() or nkeys.duplicated().any():
        raise ValueError("an entity is repeated in a frame")
    left = pd.DataFrame({"__k": okeys.array, "__opos": np.arange(len(offline))})
    right = pd.DataFrame({"__k": nkeys.array, "__npos": np.arange(len(online))})
    both = left.merge(right, on="__k", how="inner")
    opos, npos = both["__opos"].to_numpy(), both["__npos"].to_numpy()
    keys = okeys.to_numpy()[opos].tolist() if len(opos) else []
    report = {}
    for c in features:
        a = offline[c].iloc[opos].tolist() if len(opos) else []
        b = online[c].iloc[npos].tolist() if len(npos) else []
        report[c] = sorted(k for k, x, y in zip(keys, a, b) if not _agree(x, y, tolerance))
    return report


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, numbers.Integral):
        raise ValueError("bins must be an integer")
    bins = int(bins)
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
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
            if len(arr) == 0 or not np.isfinite(arr).all():
                raise ValueError(f"{name}: empty or not finite")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / len(t), 1e-4)
        ps = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / len(s), 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
        return abs(a - b)  # ints (made Python ints by the caller) subtract exactly already
    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
