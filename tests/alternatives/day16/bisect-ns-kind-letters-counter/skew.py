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

from typing import Sequence

import math
from bisect import bisect_left
from collections import Counter

import numpy as np
import pandas as pd


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
    rows = []
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(f"no entity column {entity!r}")
        keys = frame[entity].tolist()
        if len(set(keys)) != len(keys):
            raise ValueError("an entity appears twice in one frame")
        rows.append({key: i for i, key in enumerate(keys)})
    off_rows, on_rows = rows
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(f"online lacks {absent[0]!r}")
    shared = sorted(key for key in off_rows if key in on_rows)
    report = {}
    for name in names:
        off_values, on_values = offline[name].tolist(), online[name].tolist()
        report[name] = [key for key in shared
                        if not _same(off_values[off_rows[key]], on_values[on_rows[key]], tolerance)]
    return report


def _numeric(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    if _numeric(a) and _numeric(b):
        return a == b or _exact_gap(a, b) <= tolerance
    return a == b


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if not (threshold > 0 and threshold != math.inf):
        raise ValueError(f"threshold must be positive and finite, got {threshold!r}")
    out = {}
    for name in features:
        if name not in train.columns or name not in serving.columns:
            raise KeyError(name)
        t_values = [float(v) for v in train[name].tolist()]
        s_values = [float(v) for v in serving[name].tolist()]
        for sample in (t_values, s_values):
            if not sample or not all(math.isfinite(v) for v in sample):
                raise ValueError(f"{name!r} must be non-empty and finite")
        edges = np.quantile(t_values, [i / bins for i in range(1, bins)]).tolist()
        shares = []
        for sample in (t_values, s_values):
            counts = Counter(bisect_left(edges, v) for v in sample)
            shares.append([max(counts[b] / len(sample), 1e-4) for b in range(bins)])
        psi = math.fsum((s - t) * math.log(s / t) for t, s in zip(*shares))
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
