"""Task 3: skew with dictionaries keyed by entity; PSI by sorting."""

from __future__ import annotations

import bisect
import math
from typing import Sequence

import numpy as np
import pandas as pd


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _by_entity(frame, entity, columns):
    if entity not in frame.columns:
        raise KeyError(entity)
    keys = frame[entity].tolist()
    rows = {}
    cols = [frame[c].tolist() if c in frame.columns else None for c in columns]
    for i, k in enumerate(keys):
        if k in rows:
            raise ValueError(f"entity {k!r} repeated")
        rows[k] = [None if col is None else col[i] for col in cols]
    return rows


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    if entity not in offline.columns or entity not in online.columns:
        raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    missing = [c for c in features if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    off = _by_entity(offline, entity, features)
    on = _by_entity(online, entity, features)
    report = {c: [] for c in features}
    for k, a_row in off.items():
        if k not in on:
            continue
        b_row = on[k]
        for c, a, b in zip(features, a_row, b_row):
            a = a.item() if isinstance(a, np.generic) else a
            b = b.item() if isinstance(b, np.generic) else b
            ma, mb = _missing(a), _missing(b)
            if ma or mb:
                same = ma and mb
            elif _number(a) and _number(b):
                same = a == b or _exact_gap(a, b) <= tolerance
            else:
                same = a == b
            if not same:
                report[c].append(k)
    return {c: sorted(v) for c, v in report.items()}


def _proportions(edges, values, bins):
    counts = [0] * bins
    for v in values:
        counts[bisect.bisect_left(edges, v)] += 1
    return [max(c / len(values), 1e-4) for c in counts]


def distribution_skew(train, serving, features: Sequence[str], *, bins=10, threshold=0.1):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError("bins is not an integer")
    if not bins >= 2:
        raise ValueError("bins < 2")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError("threshold must be positive and finite")
    out = {}
    for name in features:
        cols = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            vals = [float(v) for v in frame[name].tolist()]
            if not vals or not all(math.isfinite(v) for v in vals):
                raise ValueError(f"{name}: empty or holds NaN/inf")
            cols.append(vals)
        t, s = cols
        edges = np.quantile(np.asarray(t), [i / bins for i in range(1, bins)]).tolist()
        pt, ps = _proportions(edges, t, bins), _proportions(edges, s, bins)
        psi = math.fsum((b - a) * math.log(b / a) for a, b in zip(pt, ps))
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
