from __future__ import annotations

import numpy as np
import pandas as pd


def _times(frame, column):
    t = pd.to_datetime(frame[column])
    return t


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, cols in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for c in cols:
            if c not in frame.columns:
                raise KeyError(c)
    lt = _times(labels, label_time)
    ft = _times(features, feature_time)
    l_aware = getattr(lt.dt, "tz", None) is not None
    f_aware = getattr(ft.dt, "tz", None) is not None
    if l_aware != f_aware:
        raise ValueError("cannot mix tz-aware and naive timestamps")
    if l_aware:
        lt = lt.dt.tz_convert("UTC")
        ft = ft.dt.tz_convert("UTC")
    lt = lt.dt.as_unit("ns")
    ft = ft.dt.as_unit("ns")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    n = len(labels)
    left = pd.DataFrame({"__t": lt.array, "__pos": np.arange(n)})
    left["__k"] = pd.Series(labels[entity].to_numpy(dtype=object), dtype=object)
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    # ints as objects (Python ints): where no row qualifies, an int column would become float64 and round its values
    right = pd.DataFrame({c: features[c].to_numpy(dtype=object if features[c].dtype.kind in "iu" else None)
                          for c in value_cols})
    right["__t"] = ft.array
    right["__k"] = pd.Series(features[entity].to_numpy(dtype=object), dtype=object)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(range(n))
    result = labels.copy()
    for c in value_cols:
        col = picked[c]
        result[c] = col.array
    return result
