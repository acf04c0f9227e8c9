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
import numbers as numbers_
from typing import Sequence

import numpy as np
import pandas as pd


def _agree(a, b, tolerance) -> bool:
    a_missing, b_missing = bool(pd.isna(a)), bool(pd.isna(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    numbers = all(isinstance(v, numbers_.Number) and not isinstance(v, (bool, np.bool_)) for v in (a, b))
    if numbers:
        return a == b or _exact_gap(a, b) <= tolerance
    return bool(a == b)


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
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
        if frame[entity].duplicated().any():
            raise ValueError(f"an entity is repeated in {entity!r}")
    features = [c for c in offline.columns if c != entity]
    for name in features:
        if name not in online.columns:
            raise KeyError(name)
    left = offline.set_index(entity)
    right = online.set_index(entity)
    common = left.index.intersection(right.index)
    report = {}
    for name in features:
        a = left.loc[common, name].tolist()
        b = right.loc[common, name].tolist()
        report[name] = sorted(e for e, x, y in zip(common.tolist(), a, b) if not _agree(x, y, tolerance))
    return report


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if not isinstance(bins, numbers_.Integral) or bins < 2:
        raise ValueError("bins must be an integer, at least 2")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        if name not in train.columns:
            raise KeyError(name)
        if name not in serving.columns:
            raise KeyError(name)
        t = train[name].to_numpy(dtype=float)
        s = serving[name].to_numpy(dtype=float)
        for sample in (t, s):
            if sample.size == 0 or not np.isfinite(sample).all():
                raise ValueError(f"{name}: empty or not finite")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        ps = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
