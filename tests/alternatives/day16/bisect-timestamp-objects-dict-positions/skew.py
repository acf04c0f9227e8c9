"""Task 3: train/serve skew, the silent failure of every two-path feature pipeline.

Contract (the tests check exactly this):
- `feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6) -> dict[str, list]`:
  for every column of `offline` other than `entity` (each must exist in `online`, else
  KeyError naming it), the sorted list of entities, present in both frames, whose two
  values disagree; an empty list when all agree. Numbers (not bools) agree when they
  differ by at most `tolerance` (0: only equal numbers agree); other values (text, bools,
  timestamps) when they are equal. Numbers compare exactly: equal ones agree (inf with inf),
  integers subtract as integers (no float rounding above 2**53, no unsigned wrap-around).
  Two missing values (None, NaN, NaT, pd.NA) agree, one missing value never does.
  Entities in only one frame (either one) are not compared.
  A missing `entity` column raises KeyError; an entity repeated in a frame ValueError.
- `distribution_skew(train, serving, features, *, bins=10, threshold=0.1)
  -> dict[str, tuple[float, bool]]`: for each named feature, `(psi, psi >= threshold)`
  where `psi` is the Population Stability Index of serving against training, exactly as
  day 13 defines it (edges `numpy.quantile(train, [1/bins, ..., (bins-1)/bins])` from
  training only; a value's bin is the number of edges strictly below it; proportions
  floored at epsilon = 1e-4, no renormalising; sum of (p_serving - p_train) *
  ln(p_serving / p_train)). A feature missing from a frame → KeyError; an empty column
  or one holding NaN/inf → ValueError; `bins < 2` or a threshold that is not a positive
  finite number → ValueError, even when `features` is empty.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Sequence

import numpy as np
import pandas as pd


def _is_missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    if _is_missing(a) or _is_missing(b):
        return _is_missing(a) and _is_missing(b)
    if _is_number(a) and _is_number(b):
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
    return a == b


def _rows(frame: pd.DataFrame, entity: str) -> dict:
    keys = frame[entity].tolist()
    if len(set(keys)) != len(keys):
        raise ValueError(f"an entity appears twice in {entity!r}")
    return {key: pos for pos, key in enumerate(keys)}


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


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    offline, online = _python_numbers(offline), _python_numbers(online)
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    off_rows, on_rows = _rows(offline, entity), _rows(online, entity)
    names = [c for c in offline.columns if c != entity]
    missing = [c for c in names if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    shared = [key for key in off_rows if key in on_rows]
    out = {}
    for name in names:
        off_values, on_values = offline[name].tolist(), online[name].tolist()
        out[name] = sorted(key for key in shared
                           if not _same(off_values[off_rows[key]], on_values[on_rows[key]], tolerance))
    return out


def _psi(train: list[float], serving: list[float], bins: int) -> float:
    edges = np.quantile(np.array(train), [i / bins for i in range(1, bins)]).tolist()

    def proportions(sample):
        counts = [0] * bins
        for v in sample:
            counts[bisect_left(edges, v)] += 1
        return [max(c / len(sample), 1e-4) for c in counts]

    return math.fsum((s - t) * math.log(s / t) for t, s in zip(proportions(train), proportions(serving)))


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if not np.issubdtype(type(bins), np.integer):  # int or np.integer; not bool, float or str
        raise ValueError(f"bins must be an integer, got {bins!r}")
    if not bins >= 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be positive and finite, got {threshold}")
    out = {}
    for name in features:
        samples = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            sample = [float(v) for v in frame[name].tolist()]
            if not sample or not all(math.isfinite(v) for v in sample):
                raise ValueError(f"{name}: needs finite values")
            samples.append(sample)
        psi = _psi(samples[0], samples[1], bins)
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
