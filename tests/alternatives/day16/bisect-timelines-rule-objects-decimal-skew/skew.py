"""Train/serve skew with dictionaries keyed by entity (no merge), and PSI from a comparison matrix."""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from typing import Sequence

import numpy as np
import pandas as pd


def _rows_by_entity(frame: pd.DataFrame, entity: str) -> dict:
    if entity not in frame.columns:
        raise KeyError(entity)
    keys = frame[entity].tolist()
    table = {}
    for pos, key in enumerate(keys):
        if key in table:
            raise ValueError(f"entity {key!r} appears twice")
        table[key] = pos
    return table


def _missing(v) -> bool:
    try:
        return v is None or v is pd.NA or v is pd.NaT or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _numeric(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    a, b = (v.item() if isinstance(v, np.number) else v for v in (a, b))  # numpy scalars as Python numbers
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if _numeric(a) != _numeric(b):
        return False
    if _numeric(a):
        if a == b:
            return True
        # exact difference, then compare with the tolerance: no rounding, no wrap-around
        diff = abs(Decimal(a) - Decimal(b)) if not (math.isinf(a) or math.isinf(b)) else math.inf
        return diff <= Decimal(tolerance) if diff != math.inf else False
    if isinstance(a, str) != isinstance(b, str):
        return False
    return a == b


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    off = _rows_by_entity(offline, entity)
    on = _rows_by_entity(online, entity)
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    shared = [k for k in off if k in on]
    out = {}
    for name in names:
        a_vals, b_vals = offline[name].tolist(), online[name].tolist()
        out[name] = sorted(k for k in shared if not _same(a_vals[off[k]], b_vals[on[k]], tolerance))
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    values = frame[name].to_numpy(dtype=float, na_value=np.nan)
    if values.size == 0:
        raise ValueError(f"{name!r} is empty")
    if np.isnan(values).any() or np.isinf(values).any():
        raise ValueError(f"{name!r} holds NaN or infinity")
    return values


def _shares(values: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    which = (edges[np.newaxis, :] < values[:, np.newaxis]).sum(axis=1)
    counts = np.array([(which == b).sum() for b in range(bins)], dtype=float)
    return np.maximum(counts / values.size, 1e-4)


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if bins < 2:
        raise ValueError("need at least two bins")
    if not threshold > 0 or math.isinf(threshold) or math.isnan(threshold):
        raise ValueError("threshold must be positive and finite")
    levels = [i / bins for i in range(1, bins)]
    result = {}
    for name in features:
        t, s = _column(train, name), _column(serving, name)
        edges = np.quantile(t, levels)
        p_t, p_s = _shares(t, edges, bins), _shares(s, edges, bins)
        psi = sum((b - a) * math.log(b / a) for a, b in zip(p_t, p_s))
        result[name] = (psi, bool(psi >= threshold))
    return result
