"""Train/serve skew via a merge and numpy PSI."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd

EPS = 1e-4


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _is_number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tol) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    if _is_number(a) and _is_number(b):
        return a == b or _exact_gap(a, b) <= tol  # inf == inf agrees (inf - inf is NaN)
    return a == b


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
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    for frame in (offline, online):
        if frame[entity].duplicated().any():
            raise ValueError("an entity is repeated")
    both = offline[[entity, *features]].astype({entity: object}).merge(
        online[[entity, *features]].astype({entity: object}), on=entity,
        suffixes=("_off", "_on"), how="inner")
    report = {}
    for c in features:
        off = both[f"{c}_off"].astype(object).tolist()
        on = both[f"{c}_on"].astype(object).tolist()
        report[c] = sorted(e for e, a, b in zip(both[entity].tolist(), off, on) if not _agree(a, b, tolerance))
    return report


def _psi(train: np.ndarray, serving: np.ndarray, bins: int) -> float:
    edges = np.quantile(train, [i / bins for i in range(1, bins)])
    pt = np.maximum(np.bincount(np.searchsorted(edges, train, side="left"), minlength=bins) / len(train), EPS)
    ps = np.maximum(np.bincount(np.searchsorted(edges, serving, side="left"), minlength=bins) / len(serving), EPS)
    return float(np.sum((ps - pt) * np.log(ps / pt)))


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if not isinstance(bins, numbers.Integral) or isinstance(bins, bool):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        arrays = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = frame[name].to_numpy(dtype=float)
            if len(values) == 0 or not np.isfinite(values).all():
                raise ValueError(f"{name}: empty or non-finite values")
            arrays.append(values)
        psi = _psi(arrays[0], arrays[1], bins)
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
