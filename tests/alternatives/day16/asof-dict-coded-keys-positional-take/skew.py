"""Train/serve skew: a merge on the entity, and numpy PSI."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    na, nb = _number(a), _number(b)
    if na and nb:
        if isinstance(a, np.generic):  # a Python number: np.float32(0.1) == 0.1 holds in float32
            a = a.item()
        if isinstance(b, np.generic):
            b = b.item()
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
    if na or nb:
        return False
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    return bool(a == b) if type(a) is type(b) or not isinstance(a, str) and not isinstance(b, str) else False


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    for frame in (offline, online):
        keys = frame[entity].tolist()
        if len(set(keys)) != len(keys):
            raise ValueError("an entity is repeated")
    table: dict = {}
    left = pd.DataFrame({"__k": [table.setdefault(k, len(table)) for k in offline[entity].tolist()],
                         "__e": pd.Series(offline[entity].tolist(), dtype=object)})
    right = pd.DataFrame({"__k": [table.setdefault(k, len(table)) for k in online[entity].tolist()]})
    for i, c in enumerate(features):
        left[f"a{i}"] = pd.Series(offline[c].tolist(), dtype=object)
        right[f"b{i}"] = pd.Series(online[c].tolist(), dtype=object)
    both = left.merge(right, on="__k", how="inner")
    report = {}
    for i, c in enumerate(features):
        report[c] = sorted(e for e, a, b in zip(both["__e"], both[f"a{i}"], both[f"b{i}"])
                           if not _agree(a, b, tolerance))
    return report


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold)
            or threshold <= 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        arrays = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = np.array(frame[name].to_numpy(), dtype=float)
            if values.size == 0 or not np.isfinite(values).all():
                raise ValueError(f"{name}: empty or not finite")
            arrays.append(values)
        t, s = arrays
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
