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

import decimal
import math
import numbers

import numpy as np
import pandas as pd


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    if entity not in offline.columns:
        raise KeyError(entity)
    if entity not in online.columns:
        raise KeyError(entity)
    feats = [c for c in offline.columns if c != entity]
    missing = [c for c in feats if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    off = _keyed(offline, entity, feats)
    on = _keyed(online, entity, feats)
    both = off.merge(on, on="__key", how="inner", suffixes=("_off", "_on"))
    ids = both["__id_off"].tolist()
    out = {}
    for i, c in enumerate(feats):
        a = both[f"__f{i}_off"].tolist()
        b = both[f"__f{i}_on"].tolist()
        out[c] = sorted(e for e, x, y in zip(ids, a, b) if not _agree(x, y, tolerance))
    return out


def _keyed(frame, entity, feats):
    ids = [v.item() if isinstance(v, np.generic) else v for v in frame[entity].tolist()]
    keys = [(type(v) is str, v) for v in ids]
    data = {"__key": pd.Series(keys, dtype=object), "__id": pd.Series(ids, dtype=object)}
    for i, c in enumerate(feats):
        data[f"__f{i}"] = pd.Series(frame[c].array, dtype=object) if len(frame) else pd.Series([], dtype=object)
    out = pd.DataFrame(data)
    if out["__key"].duplicated().any():
        raise ValueError(f"an entity is repeated in the {entity!r} column")
    return out


def _isnull(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and v != v) \
        or (isinstance(v, (np.datetime64, np.timedelta64)) and np.isnat(v))


def _num(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Number):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _agree(a, b, tolerance) -> bool:
    na, nb = _isnull(a), _isnull(b)
    if na or nb:
        return na and nb
    x, y = _num(a), _num(b)
    if x is not None and y is not None:
        if x == y:
            return True
        if isinstance(x, int) and isinstance(y, int):
            return abs(x - y) <= tolerance
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        with decimal.localcontext() as ctx:
            ctx.prec = 2000
            return abs(decimal.Decimal(x) - decimal.Decimal(y)) <= decimal.Decimal(float(tolerance))
    if (x is None) != (y is None):
        return False
    a = a.item() if isinstance(a, np.generic) else a
    b = b.item() if isinstance(b, np.generic) else b
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, (bool, np.bool_)):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    if bins < 2:
        raise ValueError("bins must be >= 2")
    if not isinstance(threshold, (int, float, np.integer, np.floating)) or isinstance(threshold, (bool, np.bool_)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError("threshold must be positive and finite")
    return {f: _psi_report(_column(train, f), _column(serving, f), int(bins), threshold) for f in features}


def _column(frame, name):
    if name not in frame.columns:
        raise KeyError(name)
    arr = pd.to_numeric(frame[name]).astype("float64").to_numpy(na_value=np.nan)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: empty or not finite")
    return arr


def _share(values, edges, bins):
    idx = (values[:, None] > edges[None, :]).sum(axis=1)
    counts = pd.Series(idx).value_counts().reindex(range(bins), fill_value=0).to_numpy()
    return np.maximum(counts / values.size, 1e-4)


def _psi_report(train, serving, bins, threshold):
    edges = np.quantile(train, np.arange(1, bins) / bins)
    pt, ps = _share(train, edges, bins), _share(serving, edges, bins)
    psi = float(((ps - pt) * np.log(ps / pt)).sum())
    return psi, bool(psi >= threshold)
