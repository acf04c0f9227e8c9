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

import bisect
import math
import numbers
from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _gone(v) -> bool:
    r = pd.isna(v)
    return bool(r) if np.ndim(r) == 0 else False


def _number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _same(a, b, tolerance) -> bool:
    if _gone(a) or _gone(b):
        return _gone(a) and _gone(b)
    a, b = _plain(a), _plain(b)
    if _number(a) and _number(b):
        if a == b:
            return True
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tolerance)
    if _number(a) or _number(b):
        return False
    if type(a) is not type(b) and (isinstance(a, (str, bool)) or isinstance(b, (str, bool))):
        return False
    return bool(a == b)


def _index(frame: pd.DataFrame, entity: str) -> dict:
    """entity value -> row position; ValueError on a repeat."""
    out = {}
    for pos, k in enumerate(frame[entity].tolist()):
        k = _plain(k)
        if k in out:
            raise ValueError(f"entity {k!r} appears twice")
        out[k] = pos
    return out


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    names = [c for c in offline.columns if c != entity]
    missing = [c for c in names if c not in online.columns]
    if missing:
        raise KeyError(missing[0])
    off, on = _index(offline, entity), _index(online, entity)
    common = [(k, i, on[k]) for k, i in off.items() if k in on]
    report = {}
    for c in names:
        a, b = offline[c].tolist(), online[c].tolist()
        report[c] = sorted(k for k, i, j in common if not _same(a[i], b[j], tolerance))
    return report


def _column(frame, name, role):
    if name not in frame.columns:
        raise KeyError(name)
    vals = [float(_plain(v)) if not _gone(v) else math.nan for v in frame[name].tolist()]
    if not vals:
        raise ValueError(f"{role} {name!r}: empty")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{role} {name!r}: NaN or infinity")
    return vals


def _proportions(values, edges, bins):
    counts = Counter(bisect.bisect_left(edges, v) for v in values)
    return np.array([max(counts.get(b, 0) / len(values), 1e-4) for b in range(bins)])


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise ValueError(f"bins must be an integer, not {bins!r}")
    if bins < 2:
        raise ValueError("bins < 2")
    bins = int(bins)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be a number, not {threshold!r}")
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError("threshold must be positive and finite")
    result = {}
    for name in features:
        tr = _column(train, name, "train")
        sv = _column(serving, name, "serving")
        edges = np.quantile(np.array(tr), [i / bins for i in range(1, bins)]).tolist()
        pt, ps = _proportions(tr, edges, bins), _proportions(sv, edges, bins)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        result[name] = (psi, bool(psi >= threshold))
    return result
