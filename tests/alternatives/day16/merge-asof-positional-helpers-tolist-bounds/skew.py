"""Train/serve skew via an inner merge, and PSI with numpy."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd


def _agree(a, b, tolerance) -> bool:
    ma, mb = pd.isna(a), pd.isna(b)
    if ma or mb:
        return ma and mb
    num = lambda v: isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))
    if num(a) and num(b):
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
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
    for frame in (offline, online):
        keys = frame[entity].tolist()
        if len(set(keys)) != len(keys):
            raise ValueError("an entity is repeated")
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    left = offline[[entity, *features]].rename(columns={c: f"off{i}" for i, c in enumerate(features)})
    right = online[[entity, *features]].rename(columns={c: f"on{i}" for i, c in enumerate(features)})
    left = left.assign(**{entity: left[entity].astype(object)})
    right = right.assign(**{entity: right[entity].astype(object)})
    both = left.merge(right, on=entity, how="inner")
    report = {}
    ents = both[entity].tolist()
    for i, c in enumerate(features):
        a, b = both[f"off{i}"].tolist(), both[f"on{i}"].tolist()
        report[c] = sorted(e for e, x, y in zip(ents, a, b) if not _agree(x, y, tolerance))
    return report


def distribution_skew(train, serving, features, *, bins=10, threshold=0.1):
    if not isinstance(bins, numbers.Integral) or isinstance(bins, bool):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not (isinstance(threshold, (int, float, np.integer, np.floating)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        cols = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            v = np.asarray(frame[name].to_numpy(dtype=float), dtype=float)
            if v.size == 0 or not np.isfinite(v).all():
                raise ValueError(f"{name}: empty or not finite")
            cols.append(v)
        t, s = cols
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
