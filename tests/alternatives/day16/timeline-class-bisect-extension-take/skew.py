"""Train/serve skew with plain dictionaries, and PSI with the standard library."""

from __future__ import annotations

import math
from bisect import bisect_left
from numbers import Integral, Number

import numpy as np
import pandas as pd


def _by_entity(frame: pd.DataFrame, entity: str, which: str) -> dict:
    if entity not in frame.columns:
        raise KeyError(f"{which} has no entity column {entity!r}")
    keys = frame[entity].tolist()
    rows = {}
    for pos, key in enumerate(keys):
        if key in rows:
            raise ValueError(f"entity {key!r} is repeated in {which}")
        rows[key] = pos
    return rows


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _agree(a, b, tolerance: float) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    numeric = all(isinstance(v, Number) and not isinstance(v, (bool, np.bool_)) for v in (a, b))
    if not numeric:
        return a == b
    return a == b or _exact_gap(a, b) <= tolerance


def _python_numbers(frame):
    """A copy whose object columns hold Python numbers, not numpy scalars (np.uint32(5) - np.uint32(7) wraps)."""
    import numpy
    import pandas

    plain = {}
    for column in frame.columns:
        values = frame[column].tolist() if frame[column].dtype == object else ()
        if any(isinstance(v, numpy.number) for v in values):
            plain[column] = pandas.Series([v.item() if isinstance(v, numpy.number) else v for v in values],
                                          index=frame.index, dtype=object)
    if not plain:
        return frame  # nothing to convert: the caller's own frame, read only
    out = frame.copy()
    for column, series in plain.items():
        out[column] = series
    return out


def feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6):
    offline, online = _python_numbers(offline), _python_numbers(online)
    off = _by_entity(offline, entity, "offline")
    on = _by_entity(online, entity, "online")
    names = [c for c in offline.columns if c != entity]
    for name in names:
        if name not in online.columns:
            raise KeyError(f"online has no column {name!r}")
    shared = [k for k in off if k in on]
    report = {}
    for name in names:
        a, b = offline[name].tolist(), online[name].tolist()
        report[name] = sorted(k for k in shared if not _agree(a[off[k]], b[on[k]], tolerance))
    return report


def _proportions(sample: list[float], edges: list[float], bins: int) -> list[float]:
    counts = [0] * bins
    for v in sample:
        counts[bisect_left(edges, v)] += 1
    return [max(c / len(sample), 1e-4) for c in counts]


def _finite_values(frame: pd.DataFrame, name: str, which: str) -> list[float]:
    if name not in frame.columns:
        raise KeyError(f"{which} has no feature {name!r}")
    values = [float(v) for v in frame[name].tolist()]
    if not values:
        raise ValueError(f"{which}[{name!r}] is empty")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{which}[{name!r}] holds NaN or infinity")
    return values


def distribution_skew(train, serving, features, *, bins=10, threshold=0.1):
    if not isinstance(bins, Integral) or isinstance(bins, bool):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be >= 2")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError("threshold must be positive and finite")
    out = {}
    for name in features:
        t = _finite_values(train, name, "train")
        s = _finite_values(serving, name, "serving")
        edges = [float(e) for e in np.quantile(np.array(t), [i / bins for i in range(1, bins)])]
        pt, ps = _proportions(t, edges, bins), _proportions(s, edges, bins)
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
