"""Train/serve skew with dictionaries and plain-Python PSI."""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Sequence

import numpy as np
import pandas as pd


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and v != v) or (
        isinstance(v, np.datetime64) and np.isnat(v))


def _number(v):
    """v as an exact Python number, or None when it is no number (bools are not numbers)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (int, float, Decimal, Fraction)):
        return v
    return None


def _same(a, b, tol) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        if x == y:
            return True
        if isinstance(x, float) and not math.isfinite(x) or isinstance(y, float) and not math.isfinite(y):
            return False
        return abs(Fraction(x) - Fraction(y)) <= Fraction(tol)
    if x is not None or y is not None:
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def _rows(frame: pd.DataFrame, entity: str) -> dict:
    out: dict = {}
    for pos, key in enumerate(frame[entity].tolist()):
        if key in out:
            raise ValueError(f"entity {key!r} appears twice")
        out[key] = pos
    return out


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns or entity not in online.columns:
        raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    off, on = _rows(offline, entity), _rows(online, entity)
    pairs = [(key, pos, on[key]) for key, pos in off.items() if key in on]
    report = {}
    for c in features:
        a, b = offline[c].tolist(), online[c].tolist()
        report[c] = sorted(key for key, i, j in pairs if not _same(a[i], b[j], tolerance))
    return report


def _psi(train: list, serving: list, bins: int) -> float:
    edges = np.quantile(np.array(train), [i / bins for i in range(1, bins)]).tolist()

    def shares(sample):
        counts = [0] * bins
        for v in sample:
            counts[sum(e < v for e in edges)] += 1
        return [max(c / len(sample), 1e-4) for c in counts]

    pt, ps = shares(train), shares(serving)
    return sum((s - t) * math.log(s / t) for t, s in zip(pt, ps))


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, (str, bytes)) or threshold is None:
        raise TypeError("threshold must be a number")
    if not threshold > 0 or not math.isfinite(threshold):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        samples = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            raw = frame[name].tolist()
            if not raw or any(_missing(v) for v in raw):
                raise ValueError(f"{name}: empty or holding missing values")
            values = [float(v) for v in raw]
            if any(not math.isfinite(v) for v in values):
                raise ValueError(f"{name}: empty, NaN or infinite values")
            samples.append(values)
        psi = _psi(samples[0], samples[1], int(bins))
        report[name] = (psi, bool(psi >= threshold))
    return report
