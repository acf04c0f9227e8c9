"""Train/serve skew: entity dictionaries compared value by value, and PSI."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np
import pandas as pd

FLOOR = 1e-4


def _rows_by_entity(frame: pd.DataFrame, entity: str, columns: list) -> dict:
    table = {}
    entities = frame[entity].tolist()
    values = [frame[c].astype(object).tolist() for c in columns]
    for i, e in enumerate(entities):
        if e in table:
            raise ValueError(f"entity {e!r} appears twice")
        table[e] = (e, {c: values[j][i] for j, c in enumerate(columns)})
    return table


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same(a, b, tolerance) -> bool:
    a, b = (v.item() if isinstance(v, np.number) else v for v in (a, b))  # numpy scalars as Python numbers
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    if _is_number(a) and _is_number(b):
        if a == b:
            return True
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tolerance)
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    columns = [c for c in offline.columns if c != entity]
    missing = [c for c in columns if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    off = _rows_by_entity(offline, entity, columns)
    on = _rows_by_entity(online, entity, columns)
    common = [key for key in off if key in on]
    result = {}
    for c in columns:
        bad = [off[key][0] for key in common if not _same(off[key][1][c], on[key][1][c], tolerance)]
        result[c] = sorted(bad)
    return result


def _psi(expected: np.ndarray, actual: np.ndarray, bins: int) -> float:
    quantiles = [k / bins for k in range(1, bins)]
    edges = np.quantile(expected, quantiles)
    def shares(x):
        idx = np.array([int(np.sum(edges < v)) for v in x])
        counts = np.array([np.sum(idx == b) for b in range(bins)], dtype=float)
        return np.maximum(counts / len(x), FLOOR)
    p_train, p_serving = shares(expected), shares(actual)
    return float(sum((s - t) * math.log(s / t) for s, t in zip(p_serving, p_train)))


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    values = np.array([np.nan if pd.isna(v) else float(v) for v in frame[name].tolist()], dtype=float)
    if len(values) == 0:
        raise ValueError(f"{name}: no values")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: NaN or infinite values")
    return values


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins={bins!r}: must be an integer")
    if bins < 2:
        raise ValueError(f"bins={bins}: need at least 2")
    try:
        good = not isinstance(threshold, bool) and math.isfinite(threshold) and threshold > 0
    except TypeError:
        good = False
    if not good:
        raise ValueError(f"threshold={threshold!r}: must be a positive finite number")
    out = {}
    for name in features:
        expected = _column(train, name)
        actual = _column(serving, name)
        psi = _psi(expected, actual, bins)
        out[name] = (psi, bool(psi >= threshold))
    return out
