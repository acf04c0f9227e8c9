"""Task 3: train/serve skew, the silent failure of every two-path feature pipeline.

Contract (the tests check exactly this):
- `feature_skew(offline, online, *, entity="entity_id", tolerance=1e-6) -> dict[str, list]`:
  for every column of `offline` other than `entity` (each must exist in `online`, else
  KeyError naming it), the sorted list of entities, present in both frames, whose two
  values disagree; an empty list when all agree. Numbers (not bools) agree when they
  differ by at most `tolerance` (0: only equal numbers agree; a bool against a number never gets
  the tolerance: 0.5 and True disagree), whatever their types (int 3
  and float 3.0; numbers in an object column get the tolerance too); other values (text, bools,
  timestamps) when they are equal (10 and "10" are not). Numbers compare exactly: equal ones agree (inf with inf),
  integers subtract as integers (no float rounding above 2**53, no unsigned wrap-around),
  an int and a float exactly too (int 2**53 + 1 is 1 away from the float 2.0**53, not 0).
  Two missing values (None, NaN, NaT, pd.NA) agree, of any kinds (NaN and None too); one
  missing value never does.
  Entities in only one frame (either one) are not compared; entities match by equal value
  whatever the dtypes (2 and 2.0 are one entity, the text "1" is not the number 1).
  A missing `entity` column raises KeyError; an entity repeated in a frame ValueError (also
  one the other frame lacks).
  Neither frame is modified (by either function).
- `distribution_skew(train, serving, features, *, bins=10, threshold=0.1)
  -> dict[str, tuple[float, bool]]`: for each named feature, `(psi, psi >= threshold)`
  where `psi` is the Population Stability Index of serving against training, exactly as
  day 13 defines it (edges `numpy.quantile(train, [1/bins, ..., (bins-1)/bins])` from
  training only; a value's bin is the number of edges strictly below it; proportions
  floored at epsilon = 1e-4, no renormalising; sum of (p_serving - p_train) *
  ln(p_serving / p_train)). A feature missing from a frame → KeyError; an empty column
  or one holding NaN/inf → ValueError (only the named features' columns are read: a NaN
  elsewhere is no error); `bins < 2` or a threshold that is not a positive finite number
  → ValueError, even when `features` is empty (an int threshold such as 1 is a number; one that is
  no number at all, "0.1" or None, may raise TypeError instead, never converted and used).
"""

from __future__ import annotations

from typing import Sequence

import math
import numbers
from fractions import Fraction

import numpy as np
import pandas as pd


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    off_pos = _positions(offline[entity].tolist())
    on_pos = _positions(online[entity].tolist())
    off_ids = [_plain(v) for v in offline[entity].tolist()]
    shared = [(k, i, on_pos[k]) for k, i in off_pos.items() if k in on_pos]
    report: dict[str, list] = {}
    for c in features:
        a_vals = offline[c].tolist()
        b_vals = online[c].tolist()
        bad = [off_ids[i] for k, i, j in shared if not _agree(a_vals[i], b_vals[j], tolerance)]
        report[c] = sorted(bad)
    return report


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _missing(v):
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _key(v):
    v = _plain(v)
    return ("s", v) if isinstance(v, str) else ("v", v)


def _positions(ids):
    out = {}
    for i, v in enumerate(ids):
        k = _key(v)
        if k in out:
            raise ValueError(f"entity {v!r} is repeated")
        out[k] = i
    return out


def _is_number(v):
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    a, b = _plain(a), _plain(b)
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    if _is_number(a) and _is_number(b):
        if a == b:
            return True
        if isinstance(a, complex) or isinstance(b, complex):
            return False
        if math.isinf(a) or math.isinf(b):
            return False
        return abs(Fraction(a) - Fraction(b)) <= Fraction(_plain(tolerance))
    if _is_number(a) or _is_number(b):
        return False
    if type(a) is not type(b) and (isinstance(a, str) or isinstance(b, str)):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    bins = int(bins)
    out: dict[str, tuple[float, bool]] = {}
    for f in features:
        if f not in train.columns:
            raise KeyError(f)
        if f not in serving.columns:
            raise KeyError(f)
        t = _values(train[f], f)
        s = _values(serving[f], f)
        edges = np.quantile(t, [k / bins for k in range(1, bins)])
        pt = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / len(t), 1e-4)
        ps = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / len(s), 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        out[f] = (psi, bool(psi >= threshold))
    return out


def _values(col: pd.Series, name) -> np.ndarray:
    if len(col) == 0:
        raise ValueError(f"{name}: empty column")
    arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: NaN or infinity")
    return arr
