"""Train/serve skew: an inner merge on the entity, then PSI with numpy."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd


def _agree(a, b, tolerance) -> bool:
    a_missing, b_missing = bool(pd.isna(a)), bool(pd.isna(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    a_num = isinstance(a, numbers.Number) and not isinstance(a, (bool, np.bool_))
    b_num = isinstance(b, numbers.Number) and not isinstance(b, (bool, np.bool_))
    if a_num and b_num:
        return bool(a == b) or _exact_gap(a, b) <= tolerance
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
        if frame[entity].duplicated().any():
            raise ValueError(f"an entity is repeated in a frame")
    features = [c for c in offline.columns if c != entity]
    for name in features:
        if name not in online.columns:
            raise KeyError(name)
    both = offline[[entity, *features]].astype({entity: object}).merge(
        online[[entity, *features]].astype({entity: object}), on=entity, suffixes=("_off", "_on"))
    report = {}
    for name in features:
        keys = both[entity].tolist()
        left, right = both[f"{name}_off"].tolist(), both[f"{name}_on"].tolist()
        report[name] = sorted(k for k, a, b in zip(keys, left, right) if not _agree(a, b, tolerance))
    return report


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if not (isinstance(bins, numbers.Integral) and bins >= 2):
        raise ValueError("bins must be an integer, at least 2")
    if not (isinstance(threshold, numbers.Real) and math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
        t = np.asarray(train[name], dtype=float)
        s = np.asarray(serving[name], dtype=float)
        for sample in (t, s):
            if sample.size == 0 or not np.isfinite(sample).all():
                raise ValueError(f"{name}: empty, or holds NaN or infinity")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        p_t = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        p_s = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((p_s - p_t) * np.log(p_s / p_t)))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
