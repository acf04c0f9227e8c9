"""Task 1: point-in-time join, built on pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype


def _as_times(col: pd.Series) -> pd.Series:
    if not is_datetime64_any_dtype(col.dtype):
        col = pd.to_datetime(col)
    return col


def _is_aware(col: pd.Series) -> bool:
    return getattr(col.dtype, "tz", None) is not None


def _to_ns(col: pd.Series) -> pd.Series:
    if _is_aware(col):
        col = col.dt.tz_convert("UTC")
    return col.dt.as_unit("ns")


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    for frame, column in ((labels, entity), (labels, label_time), (features, entity), (features, feature_time)):
        if column not in frame.columns:
            raise KeyError(column)

    lt = _as_times(labels[label_time])
    ft = _as_times(features[feature_time])
    if _is_aware(lt) != _is_aware(ft):
        raise ValueError("cannot join tz-aware times with naive ones")
    lt = _to_ns(lt)
    ft = _to_ns(ft)

    value_columns = [c for c in features.columns if c != entity and c != feature_time]
    n = len(labels)

    left = pd.DataFrame(index=pd.RangeIndex(n), data={
        "__time": lt.array,
        "__key": pd.Series(labels[entity].astype(object).to_numpy(), dtype=object),
        "__pos": np.arange(n),
    })
    left = left[left["__time"].notna()].sort_values("__time", kind="mergesort")

    right_data = {}
    for i, c in enumerate(value_columns):
        col = features[c]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
            right_data[i] = pd.array(col.to_numpy())  # nullable, exact
        else:
            right_data[i] = col.array
    right = pd.DataFrame(right_data, index=pd.RangeIndex(len(features)))
    right["__time"] = ft.array
    right["__key"] = pd.Series(features[entity].astype(object).to_numpy(), dtype=object)
    right = right[right["__time"].notna()].sort_values("__time", kind="mergesort")

    tolerance = None if ttl is None else pd.Timedelta(ttl)
    joined = pd.merge_asof(
        left, right, on="__time", by="__key", direction="backward",
        allow_exact_matches=True, tolerance=tolerance,
    )
    picked = joined.set_index("__pos").reindex(np.arange(n))

    result = labels.copy()
    for i, c in enumerate(value_columns):
        result[c] = picked[i].array
    return result
