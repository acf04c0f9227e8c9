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
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd


_OFF, _ON = "__offline__", "__online__"


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def _na(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and v != v) \
        or (isinstance(v, (np.datetime64, np.timedelta64)) and np.isnat(v))


def _numeric(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    if _na(a) or _na(b):
        return _na(a) and _na(b)
    if _numeric(a) != _numeric(b):
        return False
    a, b = _scalar(a), _scalar(b)
    if _numeric(a):
        if a == b:
            return True
        if any(isinstance(x, float) and not math.isfinite(x) for x in (a, b)):
            return False
        if isinstance(a, int) and isinstance(b, int):
            return abs(a - b) <= tolerance
        with localcontext() as ctx:  # enough digits to subtract any two floats exactly
            ctx.prec = 2500
            return abs(Decimal(a) - Decimal(b)) <= Decimal(_scalar(tolerance))
    if type(a) is str or type(b) is str:
        return type(a) is type(b) and a == b
    return bool(a == b)


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    if entity not in offline.columns or entity not in online.columns:
        raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    missing = [c for c in features if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    off = pd.DataFrame({"__key": pd.Series(offline[entity].tolist(), dtype=object)})
    on = pd.DataFrame({"__key": pd.Series(online[entity].tolist(), dtype=object)})
    for frame, name in ((off, "offline"), (on, "online")):
        if frame["__key"].duplicated().any():
            raise ValueError(f"an entity is repeated in {name}")
    off["__i"] = range(len(off))
    on["__j"] = range(len(on))
    both = off.merge(on, on="__key", how="inner")
    report: dict[str, list] = {}
    for c in features:
        a = offline[c].tolist()
        b = online[c].tolist()
        bad = [key for key, i, j in zip(both["__key"], both["__i"], both["__j"])
               if not _same(a[i], b[j], tolerance)]
        report[c] = sorted(_scalar(k) for k in bad)
    return report


def _column(frame: pd.DataFrame, name) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    col = frame[name]
    if len(col) == 0:
        raise ValueError(f"{name!r} is empty")
    if col.isna().any():
        raise ValueError(f"{name!r} holds missing values")
    arr = np.asarray([float(_scalar(v)) for v in col.tolist()], dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name!r} holds infinity")
    return arr


def _psi(ref: np.ndarray, cur: np.ndarray, bins: int) -> float:
    edges = np.quantile(ref, np.arange(1, bins) / bins)
    p_ref = np.maximum(np.bincount(np.searchsorted(edges, ref, "left"), minlength=bins) / ref.size, 1e-4)
    p_cur = np.maximum(np.bincount(np.searchsorted(edges, cur, "left"), minlength=bins) / cur.size, 1e-4)
    return float(((p_cur - p_ref) * np.log(p_cur / p_ref)).sum())


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, numbers.Integral):
        raise ValueError(f"bins must be an integer, got {bins!r}")
    if bins < 2:
        raise ValueError("bins must be at least 2")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be a number, got {threshold!r}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be positive and finite")
    bins = int(bins)
    out = {}
    for name in features:
        psi = _psi(_column(train, name), _column(serving, name), bins)
        out[name] = (psi, psi >= float(threshold))
    return out
