"""Train/serve skew with dictionaries keyed by entity; PSI with numpy.digitize."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np
import pandas as pd


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and math.isnan(v)) \
        or (isinstance(v, np.datetime64) and np.isnat(v))


def _is_num(v) -> bool:
    return isinstance(v, (numbers.Number, np.number)) and not isinstance(v, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    if _is_missing(a) or _is_missing(b):
        return _is_missing(a) and _is_missing(b)
    if _is_num(a) and _is_num(b):
        a, b = (x.item() if isinstance(x, np.generic) else x for x in (a, b))
        if a == b:
            return True
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        return abs(Fraction(a) - Fraction(b)) <= Fraction(float(tolerance)) if not isinstance(tolerance, int) \
            else abs(Fraction(a) - Fraction(b)) <= tolerance
    if _is_num(a) or _is_num(b):
        return False
    return type(a) is type(b) and a == b or (isinstance(a, pd.Timestamp) and isinstance(b, pd.Timestamp) and a == b)


def _rows(frame: pd.DataFrame, entity: str) -> dict:
    rows: dict = {}
    keys = frame[entity].tolist()
    columns = {c: frame[c].tolist() for c in frame.columns if c != entity}
    for i, key in enumerate(keys):
        if key in rows:
            raise ValueError(f"entity {key!r} appears twice")
        rows[key] = {c: values[i] for c, values in columns.items()}
    return rows


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    off, on = _rows(offline, entity), _rows(online, entity)
    report = {name: [] for name in names}
    for key, row in off.items():
        if key not in on:
            continue
        other = on[key]
        for name in names:
            if not _same(row[name], other[name], tolerance):
                report[name].append(key)
    return {name: sorted(keys) for name, keys in report.items()}


def distribution_skew(train, serving, features, *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise ValueError(f"bins must be an integer, got {bins!r}")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError("threshold must be a positive finite number")
    bins = int(bins)
    out = {}
    for name in features:
        columns = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = frame[name].to_numpy(dtype="float64", copy=True)
            if len(values) == 0 or not np.all(np.isfinite(values)):
                raise ValueError(f"feature {name!r}: empty, NaN or infinite")
            columns.append(values)
        t, s = columns
        edges = np.quantile(t, [k / bins for k in range(1, bins)])
        shares = []
        for sample in (t, s):
            which = np.digitize(sample, edges, right=True)
            counts = pd.Series(which).value_counts().reindex(range(bins), fill_value=0).to_numpy()
            shares.append(np.maximum(counts / len(sample), 1e-4))
        p_t, p_s = shares
        psi = 0.0
        for a, b in zip(p_t, p_s):
            psi += float((b - a) * math.log(b / a))
        out[name] = (psi, bool(psi >= threshold))
    return out
