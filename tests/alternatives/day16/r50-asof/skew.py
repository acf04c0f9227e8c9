"""Task 3: train/serve skew (merge on the entity, exact arithmetic with fractions)."""

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
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    if _number(a) and _number(b):
        if a == b:
            return True
        if isinstance(a, float) and math.isinf(a) or isinstance(b, float) and math.isinf(b):
            return False
        if isinstance(tolerance, np.generic):
            tolerance = tolerance.item()
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tolerance)
    if _number(a) or _number(b):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _keys(frame: pd.DataFrame, entity: str) -> pd.Series:
    return pd.Series(frame[entity].astype(object).tolist(), dtype=object)


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    off_keys, on_keys = _keys(offline, entity), _keys(online, entity)
    for keys in (off_keys, on_keys):
        if keys.duplicated().any():
            raise ValueError(f"an entity is repeated in {entity!r}")

    left = pd.DataFrame({"__key": off_keys, "__pos_off": np.arange(len(offline))})
    right = pd.DataFrame({"__key": on_keys, "__pos_on": np.arange(len(online))})
    both = left.merge(right, on="__key", how="inner")

    report: dict[str, list] = {}
    for c in features:
        a_values = offline[c].astype(object).tolist()
        b_values = online[c].astype(object).tolist()
        bad = [
            key for key, i, j in zip(both["__key"].tolist(), both["__pos_off"].tolist(), both["__pos_on"].tolist())
            if not _agree(a_values[i], b_values[j], tolerance)
        ]
        report[c] = sorted(bad)
    return report


def _check_parameters(bins, threshold) -> None:
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    col = frame[name]
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(values) == 0:
        raise ValueError(f"{name!r} is empty")
    if not np.isfinite(values).all():
        raise ValueError(f"{name!r} holds NaN or infinity")
    return values


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    _check_parameters(bins, threshold)
    bins = int(bins)
    report = {}
    for name in features:
        expected = _column(train, name)
        actual = _column(serving, name)
        edges = np.quantile(expected, np.arange(1, bins) / bins)
        p_train = np.bincount(np.searchsorted(edges, expected, side="left"), minlength=bins) / len(expected)
        p_serve = np.bincount(np.searchsorted(edges, actual, side="left"), minlength=bins) / len(actual)
        p_train = np.maximum(p_train, 1e-4)
        p_serve = np.maximum(p_serve, 1e-4)
        psi = float(np.sum((p_serve - p_train) * np.log(p_serve / p_train)))
        report[name] = (psi, bool(psi >= threshold))
    return report
