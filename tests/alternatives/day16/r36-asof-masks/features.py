"""Task 1: point-in-time join with pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_utc_ns(times: pd.Series) -> pd.Series:
    """Naive nanosecond times; aware ones first brought to UTC (so they compare as instants)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.as_unit("ns").reset_index(drop=True)


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, needed in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for column in needed:
            if column not in frame.columns:
                raise KeyError(column)
    label_aware = isinstance(labels[label_time].dtype, pd.DatetimeTZDtype)
    feature_aware = isinstance(features[feature_time].dtype, pd.DatetimeTZDtype)
    if label_aware != feature_aware:
        raise ValueError("cannot join tz-aware times with naive ones")

    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    inner = {c: f"__value_{i}" for i, c in enumerate(value_columns)}

    n = len(labels)
    left = pd.DataFrame({
        "__time": _as_utc_ns(labels[label_time]).to_numpy(),
        "__key": pd.Series(labels[entity].to_numpy(dtype=object), dtype=object),
        "__pos": np.arange(n),
    })
    left = left[left["__time"].notna()].sort_values("__time", kind="mergesort")

    right_data = {}
    for column in value_columns:
        values = features[column]
        if values.dtype.kind in "iu" and isinstance(values.dtype, np.dtype):
            right_data[inner[column]] = pd.array(values.to_numpy())
        else:
            right_data[inner[column]] = values.array
    right = pd.DataFrame(right_data, index=pd.RangeIndex(len(features)))
    right["__time"] = _as_utc_ns(features[feature_time]).to_numpy()
    right["__key"] = pd.Series(features[entity].to_numpy(dtype=object), dtype=object, index=right.index)
    right = right[right["__time"].notna()].sort_values("__time", kind="mergesort")

    joined = pd.merge_asof(left, right, on="__time", by="__key", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(range(n))

    result = labels.copy()
    for column in value_columns:
        result[column] = picked[inner[column]].array
    return result
