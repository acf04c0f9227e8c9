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


def _py(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def _missing(v) -> bool:
    try:
        r = pd.isna(v)
    except (TypeError, ValueError):
        return False
    return r is True or (isinstance(r, (bool, np.bool_)) and bool(r))


def _is_number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tol) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    a, b = _py(a), _py(b)
    if _is_number(a) and _is_number(b):
        if a == b:
            return True
        if isinstance(a, float) and math.isinf(a) or isinstance(b, float) and math.isinf(b):
            return False
        return abs(Fraction(a) - Fraction(b)) <= Fraction(_py(tol))
    if _is_number(a) or _is_number(b):
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    feats = [c for c in offline.columns if c != entity]
    for c in feats:
        if c not in online.columns:
            raise KeyError(c)
    off_keys = offline[entity].tolist()
    on_keys = online[entity].tolist()
    on_pos: dict = {}
    for i, k in enumerate(on_keys):
        if k in on_pos:
            raise ValueError(f"entity {k!r} repeated in online")
        on_pos[k] = i
    seen = set()
    for k in off_keys:
        if k in seen:
            raise ValueError(f"entity {k!r} repeated in offline")
        seen.add(k)
    pairs = [(i, on_pos[k]) for i, k in enumerate(off_keys) if k in on_pos]
    out: dict[str, list] = {}
    for c in feats:
        a = offline[c].tolist()
        b = online[c].tolist()
        out[c] = sorted(_py(off_keys[i]) for i, j in pairs if not _agree(a[i], b[j], tolerance))
    return out


def _values(frame: pd.DataFrame, name) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    col = frame[name]
    vals = np.array([float(_py(v)) if not _missing(v) else math.nan for v in col.tolist()],
                    dtype=np.float64)
    if vals.size == 0:
        raise ValueError(f"column {name!r} is empty")
    if not np.isfinite(vals).all():
        raise ValueError(f"column {name!r} holds NaN or infinity")
    return vals


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)):
        raise TypeError("bins must be an integer")
    bins = int(bins)
    if bins < 2:
        raise ValueError("bins must be >= 2")
    if isinstance(threshold, (bool, np.bool_)):
        raise TypeError("threshold must be a number")
    if not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    out: dict[str, tuple[float, bool]] = {}
    for name in features:
        tr = _values(train, name)
        sv = _values(serving, name)
        edges = np.quantile(tr, [i / bins for i in range(1, bins)])
        pt = np.maximum(np.bincount(np.searchsorted(edges, tr, side="left"), minlength=bins) / len(tr), 1e-4)
        ps = np.maximum(np.bincount(np.searchsorted(edges, sv, side="left"), minlength=bins) / len(sv), 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        out[name] = (psi, bool(psi >= threshold))
    return out
