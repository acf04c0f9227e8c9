"""Train/serve skew with plain dictionaries; PSI counted value by value with bisect."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from decimal import Decimal
from typing import Sequence

import numpy as np
import pandas as pd


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _rows(frame: pd.DataFrame, entity: str) -> dict:
    keys = [_plain(k) for k in frame[entity].tolist()]
    rows = {}
    for pos, key in enumerate(keys):
        if key in rows:
            raise ValueError(f"entity {key!r} appears twice")
        rows[key] = pos
    return rows


def _same(a, b, tolerance) -> bool:
    a, b = _plain(a), _plain(b)
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    if _numeric(a) and _numeric(b):
        if a == b:
            return True
        if math.isinf(a) or math.isinf(b):
            return False
        return abs(Decimal(a) - Decimal(b)) <= Decimal(tolerance)
    if _numeric(a) != _numeric(b) or isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(absent[0])
    off_rows, on_rows = _rows(offline, entity), _rows(online, entity)
    shared = [(key, pos, on_rows[key]) for key, pos in off_rows.items() if key in on_rows]
    out = {}
    for name in names:
        off, on = offline[name].tolist(), online[name].tolist()
        out[name] = sorted(key for key, i, j in shared if not _same(off[i], on[j], tolerance))
    return out


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError("bins must be an integer")
    if not bins >= 2:
        raise ValueError("bins < 2")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) or not 0 < threshold < math.inf:
        raise ValueError("threshold must be positive and finite")
    out = {}
    for name in features:
        if name not in train.columns or name not in serving.columns:
            raise KeyError(name)
        samples = [[float(v) for v in frame[name].tolist()] for frame in (train, serving)]
        for sample in samples:
            if not sample or not all(math.isfinite(v) for v in sample):
                raise ValueError(f"{name}: empty, NaN or infinite values")
        edges = np.quantile(np.array(samples[0]), [i / bins for i in range(1, bins)]).tolist()
        props = []
        for sample in samples:
            counts = Counter(bisect_left(edges, v) for v in sample)
            props.append([max(counts[b] / len(sample), 1e-4) for b in range(bins)])
        psi = sum((ps - pt) * math.log(ps / pt) for pt, ps in zip(*props))
        out[name] = (psi, bool(psi >= threshold))
    return out
