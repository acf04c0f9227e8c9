"""Task 3: train/serve skew with plain dictionaries, exact arithmetic and broadcast binning."""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Integral, Real
from typing import Sequence

import numpy as np
import pandas as pd


def _rows_by_entity(frame: pd.DataFrame, entity: str) -> dict:
    keys = frame[entity].tolist()
    if len(set(keys)) != len(keys):
        raise ValueError(f"an entity is repeated in {entity!r}")
    return {key: i for i, key in enumerate(keys)}


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _same(a, b, tolerance) -> bool:
    a, b = (v.item() if isinstance(v, np.number) else v for v in (a, b))  # numpy scalars as Python numbers
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if _number(a) and _number(b):
        if a == b:
            return True
        if math.isinf(a) or math.isinf(b):
            return False
        exact = Fraction(a) - Fraction(b)  # integers stay integers; floats are exact binary fractions
        return abs(exact) <= Fraction(tolerance)
    return a == b


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    off_rows, on_rows = _rows_by_entity(offline, entity), _rows_by_entity(online, entity)
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    shared = [key for key in off_rows if key in on_rows]
    report: dict[str, list] = {}
    for name in names:
        off_values, on_values = offline[name].tolist(), online[name].tolist()
        report[name] = sorted(
            key for key in shared if not _same(off_values[off_rows[key]], on_values[on_rows[key]], tolerance)
        )
    return report


def _finite(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(f"feature {name!r} is missing")
    sample = np.asarray(frame[name], dtype=np.float64)
    if len(sample) == 0 or not np.all(np.isfinite(sample)):
        raise ValueError(f"feature {name!r} is empty or holds NaN/inf")
    return sample


def _shares(sample: np.ndarray, edges: np.ndarray, bins: int) -> list[float]:
    below = (edges[np.newaxis, :] < sample[:, np.newaxis]).sum(axis=1)  # edges strictly below each value
    return [max(float(np.count_nonzero(below == b)) / len(sample), 1e-4) for b in range(bins)]


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if not isinstance(bins, Integral) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if not isinstance(threshold, Real) or isinstance(threshold, bool) or not (0 < threshold < math.inf):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    out = {}
    for name in features:
        base, live = _finite(train, name), _finite(serving, name)
        edges = np.quantile(base, np.arange(1, bins) / bins)
        psi = math.fsum((s - t) * math.log(s / t)
                        for t, s in zip(_shares(base, edges, bins), _shares(live, edges, bins)))
        out[name] = (psi, bool(psi >= threshold))
    return out
