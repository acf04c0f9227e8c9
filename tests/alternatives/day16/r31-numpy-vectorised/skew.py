"""Train/serve skew: an inner merge on object keys, then a per-pair rule; PSI with searchsorted and bincount."""

from __future__ import annotations

import math
from numbers import Integral, Number, Real
from typing import Sequence

import numpy as np
import pandas as pd

EPSILON = 1e-4


def _same(a, b, tolerance: float) -> bool:
    a_missing, b_missing = pd.isna(a) is True, pd.isna(b) is True
    if a_missing or b_missing:
        return a_missing and b_missing
    numeric = [isinstance(v, Number) and not isinstance(v, (bool, np.bool_)) for v in (a, b)]
    if all(numeric):
        a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
        return a == b or _exact_gap(a, b) <= tolerance
    if any(numeric):
        return False
    return type(a) is type(b) and bool(a == b)


def _keys(frame: pd.DataFrame, entity: str, side: str) -> pd.Series:
    if entity not in frame.columns:
        raise KeyError(entity)
    keys = frame[entity].astype(object)
    if keys.duplicated().any():
        raise ValueError(f"{side} holds an entity more than once")
    return keys


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    off_keys, on_keys = _keys(offline, entity, "offline"), _keys(online, entity, "online")
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    left = pd.DataFrame({"__key": off_keys.to_numpy(), "__left": np.arange(len(offline))})
    right = pd.DataFrame({"__key": on_keys.to_numpy(), "__right": np.arange(len(online))})
    pairs = left.merge(right, on="__key", how="inner")
    keys = pairs["__key"].tolist()
    li, ri = pairs["__left"].to_numpy(), pairs["__right"].to_numpy()
    report = {}
    for name in names:
        a = offline[name].iloc[li].tolist()
        b = online[name].iloc[ri].tolist()
        report[name] = sorted(k for k, x, y in zip(keys, a, b) if not _same(x, y, tolerance))
    return report


def _sample(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        raise KeyError(name)
    values = np.asarray(frame[name].to_numpy(dtype=float), dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: needs finite values")
    return values


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if not isinstance(threshold, Real) or isinstance(threshold, bool):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not 0 < threshold < math.inf:
        raise ValueError("threshold must be positive and finite")
    if not isinstance(bins, Integral) or isinstance(bins, bool):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    out = {}
    for name in features:
        expected, actual = _sample(train, name), _sample(serving, name)
        edges = np.quantile(expected, np.arange(1, bins) / bins)
        p = [np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, EPSILON)
             for s in (expected, actual)]
        psi = float(np.sum((p[1] - p[0]) * np.log(p[1] / p[0])))
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
