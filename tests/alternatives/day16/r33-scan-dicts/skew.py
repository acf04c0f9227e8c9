"""Train/serve skew with dictionaries keyed by entity, and PSI with explicit counting."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Sequence

import numpy as np
import pandas as pd


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _kind(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return "missing"
    if isinstance(v, float) and math.isnan(v):
        return "missing"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, np.datetime64) and np.isnat(v):
        return "missing"
    return "other"


def _same(a, b, tolerance) -> bool:
    a, b = _plain(a), _plain(b)
    ka, kb = _kind(a), _kind(b)
    if ka == "missing" or kb == "missing":
        return ka == kb
    if ka == "number" and kb == "number":
        if a == b:
            return True
        if math.isinf(a) or math.isinf(b):
            return False
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tolerance)
    if ka != kb:
        return False
    return type(a) is type(b) and a == b if ka == "bool" else bool(a == b)


def _index(frame: pd.DataFrame, entity: str) -> dict:
    keys = [_plain(k) for k in frame[entity].tolist()]
    table = {}
    for pos, key in enumerate(keys):
        if key in table:
            raise ValueError(f"entity {key!r} repeated")
        table[key] = pos
    return table


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns or entity not in online.columns:
        raise KeyError(entity)
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    off, on = _index(offline, entity), _index(online, entity)
    common = [(key, pos, on[key]) for key, pos in off.items() if key in on]
    report = {}
    for name in names:
        a, b = offline[name].tolist(), online[name].tolist()
        report[name] = sorted(key for key, i, j in common if not _same(a[i], b[j], tolerance))
    return report


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    which = (values[:, None] > edges[None, :]).sum(axis=1)
    counts = np.zeros(bins)
    np.add.at(counts, which, 1)
    return np.maximum(counts / len(values), 1e-4)


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError("bins must be an integer >= 2")
    bins = int(bins)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise TypeError("threshold must be a number")
    if not math.isfinite(float(threshold)) or threshold <= 0:
        raise ValueError("threshold must be positive and finite")
    out = {}
    for name in features:
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
        t = np.asarray(train[name].to_numpy(dtype=float, na_value=np.nan), dtype=float)
        s = np.asarray(serving[name].to_numpy(dtype=float, na_value=np.nan), dtype=float)
        if t.size == 0 or s.size == 0 or not (np.isfinite(t).all() and np.isfinite(s).all()):
            raise ValueError(f"{name}: empty, NaN or infinite values")
        levels = [i / bins for i in range(1, bins)]
        edges = np.quantile(t, levels)
        p_t, p_s = _proportions(t, edges, bins), _proportions(s, edges, bins)
        psi = float(sum((ps - pt) * math.log(ps / pt) for pt, ps in zip(p_t, p_s)))
        out[name] = (psi, bool(psi >= threshold))
    return out
