"""Task 1: point-in-time join with pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _times(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series)


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, cols in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for c in cols:
            if c not in frame.columns:
                raise KeyError(c)
    lt, ft = _times(labels[label_time]), _times(features[feature_time])
    l_aware, f_aware = lt.dt.tz is not None, ft.dt.tz is not None
    if l_aware != f_aware:
        raise ValueError("tz-aware and naive timestamps cannot be compared")
    lt = lt.dt.as_unit("ns")
    ft = ft.dt.as_unit("ns")
    if l_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    n = len(labels)
    left = pd.DataFrame({"__t": lt.array, "__k": pd.Series(labels[entity].tolist(), dtype=object),
                         "__p": np.arange(n)})
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    right = pd.DataFrame({f"__v{i}": features[c].array for i, c in enumerate(value_cols)})
    for i, c in enumerate(value_cols):
        if right[f"__v{i}"].dtype.kind in "iu":  # Python ints, as the keys: where a label gets no row an int column
            right[f"__v{i}"] = pd.Series(features[c].tolist(), dtype=object, index=right.index)  # would go float64
    right["__t"] = ft.array
    right["__k"] = pd.Series(features[entity].tolist(), dtype=object, index=right.index)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__p").reindex(np.arange(n))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        result[c] = picked[f"__v{i}"].array
    return result
