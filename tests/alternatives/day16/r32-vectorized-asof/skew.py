"""Train/serve skew: a merge, then value-by-value comparison; PSI with numpy."""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd


def _agree(a, b, tol) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    na = isinstance(a, numbers.Number) and not isinstance(a, (bool, np.bool_))
    nb = isinstance(b, numbers.Number) and not isinstance(b, (bool, np.bool_))
    if na and nb:
        a, b = _py(a), _py(b)
        if a == b:
            return True
        try:
            return _exact_gap(a, b) <= tol
        except TypeError:
            from fractions import Fraction
            return abs(Fraction(a) - Fraction(b)) <= tol
    if na or nb:
        return False
    return bool(type(a) is type(b) or not (isinstance(a, str) or isinstance(b, str))) and bool(a == b)


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    feats = [c for c in offline.columns if c != entity]
    for c in feats:
        if c not in online.columns:
            raise KeyError(c)
    for frame in (offline, online):
        if frame[entity].astype(object).duplicated().any():
            raise ValueError("an entity is repeated")
    left = pd.DataFrame({"__k": offline[entity].astype(object).to_numpy(), "__e": offline[entity].tolist()},
                        dtype=object)
    right = pd.DataFrame({"__k": online[entity].astype(object).to_numpy()}, dtype=object)
    for i, c in enumerate(feats):
        left[f"__a{i}"] = pd.Series(offline[c].astype(object).tolist(), dtype=object)
        right[f"__b{i}"] = pd.Series(online[c].astype(object).tolist(), dtype=object)
    both = left.merge(right, on="__k", how="inner")
    report = {}
    for i, c in enumerate(feats):
        bad = [e for e, a, b in zip(both["__e"], both[f"__a{i}"], both[f"__b{i}"]) if not _agree(a, b, tolerance)]
        report[c] = sorted(bad)
    return report


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
        raise ValueError("bins must be an integer >= 2")
    if isinstance(threshold, (str, bytes)) or threshold is None or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    bins = int(bins)
    report = {}
    levels = [i / bins for i in range(1, bins)]
    for name in features:
        cols = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            if values.size == 0 or not np.isfinite(values).all():
                raise ValueError(f"{name}: empty or not finite")
            cols.append(values)
        t, s = cols
        edges = np.quantile(t, levels)
        pt_ = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        ps_ = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((ps_ - pt_) * np.log(ps_ / pt_)))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
