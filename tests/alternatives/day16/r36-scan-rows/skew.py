"""Train/serve skew with dictionaries (no merge) and PSI with numpy.digitize."""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Integral, Number, Real
from typing import Sequence

import numpy as np
import pandas as pd


def _rows_by_entity(frame: pd.DataFrame, entity: str) -> dict:
    if entity not in frame.columns:
        raise KeyError(entity)
    where = {}
    for position, key in enumerate(frame[entity].tolist()):
        if key in where:
            raise ValueError(f"entity {key!r} appears more than once")
        where[key] = position
    return where


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


def _numeric(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    if _is_missing(a) or _is_missing(b):
        return _is_missing(a) and _is_missing(b)
    if _numeric(a) and _numeric(b):
        a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
        if a == b:
            return True
        if isinstance(a, int) and isinstance(b, int):
            return abs(a - b) <= tolerance
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        if isinstance(a, float) and isinstance(b, float):
            return abs(a - b) <= tolerance
        return abs(Fraction(a) - Fraction(b)) <= tolerance
    if _numeric(a) or _numeric(b):
        return False
    return bool(a == b)


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    off_rows = _rows_by_entity(offline, entity)
    on_rows = _rows_by_entity(online, entity)
    columns = [c for c in offline.columns if c != entity]
    missing = [c for c in columns if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    shared = [(key, p, on_rows[key]) for key, p in off_rows.items() if key in on_rows]
    result = {}
    for column in columns:
        left, right = offline[column].tolist(), online[column].tolist()
        result[column] = sorted(key for key, p, q in shared if not _same(left[p], right[q], tolerance))
    return result


def _psi(expected: np.ndarray, actual: np.ndarray, bins: int) -> float:
    edges = np.quantile(expected, [i / bins for i in range(1, bins)])
    shares = []
    for sample in (expected, actual):
        where = np.digitize(sample, edges, right=True)  # number of edges strictly below each value
        counts = np.zeros(bins)
        np.add.at(counts, where, 1)
        shares.append(np.maximum(counts / len(sample), 1e-4))
    p_train, p_serving = shares
    return float(((p_serving - p_train) * np.log(p_serving / p_train)).sum())


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if not isinstance(bins, Integral) or isinstance(bins, (bool, np.bool_)) or bins < 2:
        raise ValueError(f"bins must be an integer of at least 2, got {bins!r}")
    if not isinstance(threshold, Real) or isinstance(threshold, (bool, np.bool_)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not (0 < threshold < math.inf):
        raise ValueError(f"threshold must be positive and finite, got {threshold!r}")
    out = {}
    for name in features:
        samples = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            sample = np.asarray(frame[name].tolist(), dtype=float)
            if sample.size == 0 or np.isnan(sample).any() or np.isinf(sample).any():
                raise ValueError(f"{name}: empty, NaN or infinite values")
            samples.append(sample)
        psi = _psi(samples[0], samples[1], int(bins))
        out[name] = (psi, bool(psi >= threshold))
    return out
