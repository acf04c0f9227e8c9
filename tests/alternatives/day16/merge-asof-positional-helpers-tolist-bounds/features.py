"""Point-in-time join built on pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_ns_utc(times: pd.Series) -> tuple[pd.Series, bool]:
    times = pd.Series(pd.to_datetime(times.array), index=range(len(times)))
    aware = times.dt.tz is not None
    if aware:
        times = times.dt.tz_convert("UTC")
    return times.dt.as_unit("ns"), aware


def _masked_ints(column: pd.Series):
    """numpy ints as pandas' masked ints of the same kind and width (int64 -> Int64, uint64 -> UInt64): the join
    fills <NA> where no row qualifies, where numpy ints would turn float64 and lose the values above 2**53."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":
        return column.astype(str(column.dtype).replace("uint", "UInt").replace("int", "Int")).array
    return column.array


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, cols in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for col in cols:
            if col not in frame.columns:
                raise KeyError(col)
    lt, l_aware = _as_ns_utc(labels[label_time])
    ft, f_aware = _as_ns_utc(features[feature_time])
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware and naive timestamps")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    renamed = {c: f"v{i}" for i, c in enumerate(value_cols)}

    left = pd.DataFrame({"_t": lt.array, "_p": np.arange(len(labels))})
    left["_k"] = pd.Series(labels[entity].tolist(), dtype=object)
    left = left[left["_t"].notna()].sort_values("_t", kind="mergesort")
    right = pd.DataFrame({renamed[c]: _masked_ints(features[c]) for c in value_cols}, index=range(len(features)))
    right["_t"] = ft.array
    right["_k"] = pd.Series(features[entity].tolist(), dtype=object)
    right = right[right["_t"].notna()].sort_values("_t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="_t", by="_k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("_p").reindex(range(len(labels)))
    result = labels.copy()
    for c in value_cols:
        result[c] = picked[renamed[c]].array
    return result
