"""Task 3: train/serve skew via a merge, and PSI."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Sequence

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
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tolerance)
    if _number(a) != _number(b):
        return False
    return bool(a == b)


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for column in features:
        if column not in online.columns:
            raise KeyError(column)
    left = pd.DataFrame({"__key": pd.Series(offline[entity].to_numpy(dtype=object), dtype=object)})
    right = pd.DataFrame({"__key": pd.Series(online[entity].to_numpy(dtype=object), dtype=object)})
    for frame in (left, right):
        if frame["__key"].duplicated().any():
            raise ValueError("an entity is repeated")
    for i, column in enumerate(features):
        left[f"__off{i}"] = offline[column].array
        right[f"__on{i}"] = online[column].array
    both = left.merge(right, on="__key", how="inner")
    report = {}
    for i, column in enumerate(features):
        keys = both["__key"].tolist()
        report[column] = sorted(k for k, a, b in zip(keys, both[f"__off{i}"].tolist(), both[f"__on{i}"].tolist())
                                if not _agree(a, b, tolerance))
    return report


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, numbers.Integral) or bins < 2:
        raise ValueError("bins must be an integer >= 2")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    bins = int(bins)
    report = {}
    for feature in features:
        arrays = []
        for frame in (train, serving):
            if feature not in frame.columns:
                raise KeyError(feature)
            values = frame[feature].to_numpy(dtype=float, na_value=np.nan)
            if values.size == 0 or not np.isfinite(values).all():
                raise ValueError(f"{feature}: empty or not finite")
            arrays.append(values)
        expected, actual = arrays
        edges = np.quantile(expected, np.arange(1, bins) / bins)
        p_train = np.maximum(np.bincount(np.searchsorted(edges, expected, side="left"), minlength=bins) / expected.size, 1e-4)
        p_serve = np.maximum(np.bincount(np.searchsorted(edges, actual, side="left"), minlength=bins) / actual.size, 1e-4)
        psi = float(np.sum((p_serve - p_train) * np.log(p_serve / p_train)))
        report[feature] = (psi, bool(psi >= threshold))
    return report
