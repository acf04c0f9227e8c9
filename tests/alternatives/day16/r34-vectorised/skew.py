"""Train/serve skew: an inner merge on object keys, then an exact comparison; PSI with searchsorted."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np
import pandas as pd


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    if _number(a) and _number(b):
        a = a.item() if isinstance(a, np.generic) else a
        b = b.item() if isinstance(b, np.generic) else b
        if a == b:
            return True
        if math.isinf(a) or math.isinf(b):
            return False
        tol = tolerance.item() if isinstance(tolerance, np.generic) else tolerance
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tol)
    if _number(a) or _number(b):
        return False
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for name in features:
        if name not in online.columns:
            raise KeyError(name)
    off_keys = pd.Series(offline[entity].array, dtype=object)
    on_keys = pd.Series(online[entity].array, dtype=object)
    for keys in (off_keys, on_keys):
        if keys.duplicated().any():
            raise ValueError("an entity is repeated in a frame")
    left = pd.DataFrame({"key": off_keys})
    right = pd.DataFrame({"key": on_keys})
    for i, name in enumerate(features):
        left[f"f{i}"] = pd.Series(offline[name].array, dtype=object)
        right[f"f{i}"] = pd.Series(online[name].array, dtype=object)
    both = left.merge(right, on="key", suffixes=("_l", "_r"))
    report = {}
    for i, name in enumerate(features):
        bad = [k for k, a, b in zip(both["key"], both[f"f{i}_l"], both[f"f{i}_r"]) if not _agree(a, b, tolerance)]
        report[name] = sorted(bad)
    return report


def distribution_skew(train, serving, features, *, bins=10, threshold=0.1):
    if not isinstance(bins, numbers.Integral) or isinstance(bins, bool):
        raise ValueError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool):
        raise TypeError("threshold must be a number")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError("threshold must be a positive finite number")
    bins = int(bins)
    report = {}
    for name in features:
        if name not in train.columns:
            raise KeyError(name)
        if name not in serving.columns:
            raise KeyError(name)
        t = np.asarray(train[name], dtype=float)
        s = np.asarray(serving[name], dtype=float)
        for sample in (t, s):
            if sample.size == 0 or not np.isfinite(sample).all():
                raise ValueError(f"{name}: empty or not finite")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt_ = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        ps_ = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((ps_ - pt_) * np.log(ps_ / pt_)))
        report[name] = (psi, bool(psi >= threshold))
    return report
