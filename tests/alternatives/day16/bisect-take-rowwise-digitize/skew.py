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

import numpy as np
import pandas as pd


def _absent(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return isinstance(value, (np.datetime64, np.timedelta64)) and np.isnat(value)


def _numeric(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _same(a, b, tolerance: float) -> bool:
    if _absent(a) or _absent(b):
        return _absent(a) and _absent(b)
    if _numeric(a) and _numeric(b):
        if a == b:
            return True
        return _exact_gap(a, b) <= tolerance
    return a == b


def _rows(frame: pd.DataFrame, entity: str, name: str) -> dict:
    if entity not in frame.columns:
        raise KeyError(f"no entity column {entity!r} in {name}")
    keys = frame[entity].tolist()
    if len(set(keys)) != len(keys):
        raise ValueError(f"an entity is repeated in {name}")
    return {key: i for i, key in enumerate(keys)}


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
    off_rows, on_rows = _rows(offline, entity, "offline"), _rows(online, entity, "online")
    names = [c for c in offline.columns if c != entity]
    absent = [c for c in names if c not in online.columns]
    if absent:
        raise KeyError(f"online lacks {absent}")
    common = sorted(set(off_rows) & set(on_rows))
    report: dict[str, list] = {}
    for name in names:
        off_values, on_values = offline[name].tolist(), online[name].tolist()
        report[name] = [key for key in common
                        if not _same(off_values[off_rows[key]], on_values[on_rows[key]], tolerance)]
    return report


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    which = np.digitize(values, edges, right=True)  # edges[i-1] < v <= edges[i]: edges strictly below
    counts = np.array([np.count_nonzero(which == b) for b in range(bins)], dtype=float)
    return np.clip(counts / len(values), 1e-4, None)


def _sample(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    values = np.asarray(frame[name].tolist(), dtype=float)
    if len(values) == 0:
        raise ValueError(f"{name} is empty")
    if np.isnan(values).any() or np.isinf(values).any():
        raise ValueError(f"{name} holds NaN or infinity")
    return values


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    if not bins >= 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if not (threshold > 0 and threshold != math.inf):
        raise ValueError(f"threshold must be positive and finite, got {threshold}")
    out = {}
    for name in features:
        t, s = _sample(train, name), _sample(serving, name)
        edges = np.quantile(t, [k / bins for k in range(1, bins)])
        p_t, p_s = _proportions(t, edges, bins), _proportions(s, edges, bins)
        psi = 0.0
        for a, b in zip(p_t, p_s):
            psi += (b - a) * math.log(b / a)
        out[name] = (psi, bool(psi >= threshold))
    return out


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
