"""Task 3: train/serve skew with dictionaries and plain Python arithmetic."""

from __future__ import annotations

import bisect
import math
import numbers
from fractions import Fraction
from typing import Sequence

import numpy as np
import pandas as pd


def _missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _is_number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


def _distance(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return abs(a - b)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))


def _agree(a, b, tolerance) -> bool:
    a, b = _py(a), _py(b)
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if _is_number(a) and _is_number(b):
        if a == b:
            return True
        if any(isinstance(x, float) and math.isinf(x) for x in (a, b)):
            return False
        return _distance(a, b) <= _py(tolerance)
    if _is_number(a) or _is_number(b):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _index_of(frame: pd.DataFrame, entity: str) -> dict:
    where: dict = {}
    for pos, key in enumerate(frame[entity].tolist()):
        key = _py(key)
        if key in where:
            raise ValueError(f"entity {key!r} appears more than once")
        where[key] = pos
    return where


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    names = [c for c in offline.columns if c != entity]
    missing = [c for c in names if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    off_at = _index_of(offline, entity)
    on_at = _index_of(online, entity)
    pairs = [(key, i, on_at[key]) for key, i in off_at.items() if key in on_at]

    out: dict[str, list] = {}
    for name in names:
        left = offline[name].tolist()
        right = online[name].tolist()
        out[name] = sorted(key for key, i, j in pairs if not _agree(left[i], right[j], tolerance))
    return out


def _values(frame: pd.DataFrame, name: str) -> list[float]:
    if name not in frame.columns:
        raise KeyError(name)
    raw = [_py(v) for v in frame[name].tolist()]
    if not raw:
        raise ValueError(f"column {name!r} is empty")
    out = []
    for v in raw:
        if _missing(v):
            raise ValueError(f"column {name!r} holds a missing value")
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"column {name!r} holds infinity")
        out.append(v)
    return out


def _proportions(values: list[float], edges: list[float], bins: int) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    return [max(c / len(values), 1e-4) for c in counts]


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if not isinstance(bins, numbers.Integral) or isinstance(bins, (bool, np.bool_)):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be >= 2")
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, (bool, np.bool_)):
        raise TypeError("threshold must be a number")
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError("threshold must be a positive finite number")
    bins = int(bins)

    report: dict[str, tuple[float, bool]] = {}
    for name in features:
        expected = _values(train, name)
        actual = _values(serving, name)
        edges = np.quantile(np.array(expected), [i / bins for i in range(1, bins)]).tolist()
        p_train = _proportions(expected, edges, bins)
        p_serve = _proportions(actual, edges, bins)
        psi = sum((s - t) * math.log(s / t) for s, t in zip(p_serve, p_train))
        report[name] = (float(psi), bool(psi >= threshold))
    return report
