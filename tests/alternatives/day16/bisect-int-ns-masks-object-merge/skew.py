"""Train/serve skew: a merge on object keys, then a value-by-value comparison; PSI with numpy."""

from __future__ import annotations

import math
from numbers import Number
from typing import Sequence

import numpy as np
import pandas as pd

_KEY = "__skew_key__"


def _is_number(v) -> bool:
    return isinstance(v, (Number, np.number)) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    a_missing, b_missing = pd.isna(a), pd.isna(b)
    if a_missing or b_missing:
        return a_missing and b_missing
    if _is_number(a) and _is_number(b):
        a = a.item() if isinstance(a, np.generic) else a
        b = b.item() if isinstance(b, np.generic) else b
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
    if _is_number(a) or _is_number(b):
        return False
    if type(a) is not type(b) and (isinstance(a, str) or isinstance(b, str)):
        return False
    return bool(a == b)


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for name in features:
        if name not in online.columns:
            raise KeyError(name)
    for frame in (offline, online):
        if pd.Series(frame[entity].array, dtype=object).duplicated().any():
            raise ValueError("an entity is repeated in a frame")
    left = pd.DataFrame({_KEY: pd.Series(offline[entity].array, dtype=object)})
    right = pd.DataFrame({_KEY: pd.Series(online[entity].array, dtype=object)})
    left["__pos_off"] = range(len(offline))
    right["__pos_on"] = range(len(online))
    both = left.merge(right, on=_KEY, how="inner")
    pos_off, pos_on = both["__pos_off"].tolist(), both["__pos_on"].tolist()
    keys = [offline[entity].iloc[p] for p in pos_off]
    keys = [k.item() if isinstance(k, np.generic) else k for k in keys]
    report = {}
    for name in features:
        off_values = offline[name].tolist()
        on_values = online[name].tolist()
        report[name] = sorted(k for k, i, j in zip(keys, pos_off, pos_on)
                              if not _agree(off_values[i], on_values[j], tolerance))
    return report


def _psi(train: np.ndarray, serving: np.ndarray, bins: int) -> float:
    edges = np.quantile(train, [i / bins for i in range(1, bins)])
    p = []
    for sample in (train, serving):
        counts = np.bincount(np.searchsorted(edges, sample, side="left"), minlength=bins)
        p.append(np.maximum(counts / len(sample), 1e-4))
    pt, ps = p
    return float(np.sum((ps - pt) * np.log(ps / pt)))


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not (isinstance(threshold, (int, float, np.integer, np.floating)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        columns = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = frame[name].to_numpy(dtype=float, copy=True)
            if values.size == 0 or not np.isfinite(values).all():
                raise ValueError(f"{name}: empty or not finite")
            columns.append(values)
        psi = _psi(columns[0], columns[1], bins)
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
