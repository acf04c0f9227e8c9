"""Task 1 (vectorised style): point-in-time join with pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _norm_time(s: pd.Series, aware: bool) -> pd.Series:
    s = pd.Series(s.array, index=pd.RangeIndex(len(s)))
    if aware:
        s = s.dt.tz_convert("UTC")
    return s.dt.as_unit("ns")


def _is_aware(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.DatetimeTZDtype)


def _fill_take(col: pd.Series, idx: np.ndarray):
    arr = col.array
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
        arr = pd.array(col.to_numpy())
    return arr.take(idx, allow_fill=True)


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    for c in (entity, label_time):
        if c not in labels.columns:
            raise KeyError(c)
    for c in (entity, feature_time):
        if c not in features.columns:
            raise KeyError(c)
    lt_raw, ft_raw = labels[label_time], features[feature_time]
    la, fa = _is_aware(lt_raw), _is_aware(ft_raw)
    if la != fa:
        raise ValueError("cannot join tz-aware and naive timestamps")
    lt, ft = _norm_time(lt_raw, la), _norm_time(ft_raw, fa)

    left = pd.DataFrame({
        "__t": lt,
        "__k": pd.Series(labels[entity].astype(object).to_numpy(), dtype=object),
        "__lpos": np.arange(len(labels)),
    })
    right = pd.DataFrame({
        "__t": ft,
        "__k": pd.Series(features[entity].astype(object).to_numpy(), dtype=object),
        "__fpos": np.arange(len(features)),
    })
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")

    idx = np.full(len(labels), -1, dtype=np.int64)
    if len(left) and len(right):
        joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                               allow_exact_matches=True, tolerance=ttl)
        got = joined["__fpos"]
        ok = got.notna().to_numpy()
        idx[joined["__lpos"].to_numpy()[ok]] = got.to_numpy()[ok].astype(np.int64)

    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    result = labels.copy()
    for c in value_cols:
        result[c] = _fill_take(features[c], idx)
    return result
