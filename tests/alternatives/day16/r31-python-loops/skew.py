"""Train/serve skew: per-entity comparison through dicts, and PSI counted in a Python loop."""

from __future__ import annotations

import bisect
import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if _number(a) and _number(b):
        a = a.item() if isinstance(a, np.generic) else a
        b = b.item() if isinstance(b, np.generic) else b
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
    if _number(a) or _number(b):
        return False
    return bool(type(a) is type(b) and a == b) or (isinstance(a, pd.Timestamp) and isinstance(b, pd.Timestamp) and a == b)


def _rows_by_entity(frame: pd.DataFrame, entity: str) -> dict:
    if entity not in frame.columns:
        raise KeyError(entity)
    rows: dict = {}
    for pos, key in enumerate(frame[entity].tolist()):
        if key in rows:
            raise ValueError(f"entity {key!r} is repeated")
        rows[key] = pos
    return rows


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    off_rows = _rows_by_entity(offline, entity)
    on_rows = _rows_by_entity(online, entity)
    features = [c for c in offline.columns if c != entity]
    for name in features:
        if name not in online.columns:
            raise KeyError(name)
    shared = [(key, pos, on_rows[key]) for key, pos in off_rows.items() if key in on_rows]
    report = {}
    for name in features:
        off_values, on_values = offline[name].tolist(), online[name].tolist()
        report[name] = sorted(key for key, i, j in shared if not _agree(off_values[i], on_values[j], tolerance))
    return report


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        samples = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = frame[name].to_numpy(dtype=float, copy=True)
            if len(values) == 0 or not np.isfinite(values).all():
                raise ValueError(f"{name}: empty, NaN or infinite values")
            samples.append(values.tolist())
        train_values, serving_values = samples
        edges = np.quantile(np.asarray(train_values), [i / bins for i in range(1, bins)]).tolist()
        proportions = []
        for sample in samples:
            counts = [0] * bins
            for v in sample:
                counts[bisect.bisect_left(edges, v)] += 1
            proportions.append([max(c / len(sample), 1e-4) for c in counts])
        pt, ps = proportions
        psi = sum((s - t) * math.log(s / t) for t, s in zip(pt, ps))
        report[name] = (float(psi), bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
