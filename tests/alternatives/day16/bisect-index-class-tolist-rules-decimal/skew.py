"""Train/serve skew with plain dictionaries and a pure-Python PSI."""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from decimal import Decimal
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


def _as_number(v):
    """A Python int/float for a number (not a bool), else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return None


def _rows(frame: pd.DataFrame, entity: str) -> dict:
    keys = frame[entity].tolist()
    table: dict = {}
    for pos, key in enumerate(keys):
        if key in table:
            raise ValueError(f"entity {key!r} repeated")
        table[key] = pos
    return table


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    absent = [c for c in features if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    off_rows, on_rows = _rows(offline, entity), _rows(online, entity)
    common = [(key, pos, on_rows[key]) for key, pos in off_rows.items() if key in on_rows]
    report: dict = {}
    for c in features:
        a_values, b_values = offline[c].tolist(), online[c].tolist()
        bad = []
        for key, i, j in common:
            a, b = a_values[i], b_values[j]
            if _missing(a) or _missing(b):
                if not (_missing(a) and _missing(b)):
                    bad.append(key)
                continue
            x, y = _as_number(a), _as_number(b)
            if x is not None and y is not None:
                if x == y:
                    continue
                if isinstance(x, int) and isinstance(y, int):
                    gap = abs(x - y)
                else:
                    gap = abs(Decimal(x) - Decimal(y)) if math.isfinite(x) and math.isfinite(y) else math.inf
                    gap = float(gap)
                if not gap <= tolerance:
                    bad.append(key)
                continue
            if x is not None or y is not None or type(a) is not type(b) and (isinstance(a, str) or isinstance(b, str)):
                bad.append(key)
                continue
            if not (a == b):
                bad.append(key)
        report[c] = sorted(bad)
    return report


def _psi(train: list, serving: list, bins: int) -> float:
    edges = sorted(np.quantile(np.array(train, dtype=float), [i / bins for i in range(1, bins)]).tolist())
    def shares(sample):
        counts = [0] * bins
        for v in sample:
            counts[bisect_left(edges, v)] += 1
        return [max(c / len(sample), 1e-4) for c in counts]
    pt, ps = shares(train), shares(serving)
    return math.fsum((s - t) * math.log(s / t) for t, s in zip(pt, ps))


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    try:
        bins = operator.index(bins)
    except TypeError:
        raise ValueError(f"bins must be an integer, got {bins!r}") from None
    if not bins >= 2:
        raise ValueError("bins < 2")
    try:
        ok = not isinstance(threshold, bool) and math.isfinite(threshold) and threshold > 0
    except TypeError:
        ok = False
    if not ok:
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        samples = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = [float(v) for v in frame[name].tolist()]
            if not values or not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name}: empty, NaN or infinite")
            samples.append(values)
        psi = _psi(samples[0], samples[1], bins)
        report[name] = (psi, bool(psi >= threshold))
    return report
