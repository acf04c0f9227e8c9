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
    return v.item() if isinstance(v, np.generic) else v


def _missing(v) -> bool:
    try:
        r = pd.isna(v)
    except Exception:
        return False
    return r if isinstance(r, bool) else False


def _is_num(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    ma, mb = _missing(a), _missing(b)
    if ma or mb:
        return ma and mb
    a, b = _py(a), _py(b)
    na, nb = _is_num(a), _is_num(b)
    if na and nb:
        if a == b:
            return True
        try:
            fa, fb = Fraction(a), Fraction(b)
        except (OverflowError, ValueError, TypeError):
            return False  # an infinity not equal to the other value
        return abs(fa - fb) <= tolerance
    if na or nb:
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    if type(a) is bool or type(b) is bool:
        if not (type(a) is bool and type(b) is bool):
            return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _keys(frame: pd.DataFrame, entity: str) -> pd.Series:
    keys = pd.Series([_py(v) for v in frame[entity].tolist()], dtype=object)
    seen = set()
    for k in keys:
        if k in seen:
            raise ValueError(f"entity {k!r} repeated")
        seen.add(k)
    return keys


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    feats = [c for c in offline.columns if c != entity]
    for c in feats:
        if c not in online.columns:
            raise KeyError(c)
    off_keys, on_keys = _keys(offline, entity), _keys(online, entity)
    left = pd.DataFrame({"__k": off_keys, "__lpos": np.arange(len(offline))})
    right = pd.DataFrame({"__k": on_keys, "__rpos": np.arange(len(online))})
    both = left.merge(right, on="__k", how="inner")
    lpos, rpos = both["__lpos"].to_numpy(), both["__rpos"].to_numpy()
    keys = both["__k"].tolist()
    out = {}
    for c in feats:
        a_vals = offline[c].tolist()
        b_vals = online[c].tolist()
        bad = [k for k, i, j in zip(keys, lpos, rpos) if not _agree(a_vals[i], b_vals[j], tolerance)]
        out[c] = sorted(bad)
    return out


def _check_bins(bins):
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, numbers.Integral):
        raise TypeError("bins must be an integer")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    return int(bins)


def _check_threshold(threshold):
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    return threshold


def _values(frame: pd.DataFrame, name: str, which: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    col = frame[name]
    try:
        vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{which} column {name!r} is not numeric") from exc
    if vals.size == 0:
        raise ValueError(f"{which} column {name!r} is empty")
    if not np.isfinite(vals).all():
        raise ValueError(f"{which} column {name!r} holds NaN or infinity")
    return vals


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    bins = _check_bins(bins)
    threshold = _check_threshold(threshold)
    out = {}
    for name in features:
        t = _values(train, name, "train")
        s = _values(serving, name, "serving")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt = np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size
        ps = np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size
        pt, ps = np.maximum(pt, 1e-4), np.maximum(ps, 1e-4)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        out[name] = (psi, bool(psi >= threshold))
    return out
