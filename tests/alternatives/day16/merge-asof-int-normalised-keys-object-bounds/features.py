"""Point-in-time join with pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _times(series: pd.Series) -> pd.Series:
    s = series
    if not isinstance(s.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(s.dtype):
        s = pd.to_datetime(s)
    return s


def _key(series: pd.Series) -> pd.Series:
    out = []
    for v in series.tolist():
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(v)
    return pd.Series(out, dtype=object)


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, cols in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for c in cols:
            if c not in frame.columns:
                raise KeyError(c)
    lt, ft = _times(labels[label_time]), _times(features[feature_time])
    l_aware = isinstance(lt.dtype, pd.DatetimeTZDtype)
    f_aware = isinstance(ft.dtype, pd.DatetimeTZDtype)
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware and naive timestamps")
    if l_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    lt, ft = lt.dt.as_unit("ns"), ft.dt.as_unit("ns")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    n = len(labels)
    left = pd.DataFrame({"__t": lt.array, "__pos": np.arange(n)})
    left["__k"] = pd.Series(_key(labels[entity]).tolist(), dtype=object, index=left.index)
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    # integer values as Python ints (object), as the keys are: a label without a row must not turn them into float64
    right = pd.DataFrame({f"__v{i}": features[c].astype(object).array if pd.api.types.is_integer_dtype(features[c])
                          else features[c].array for i, c in enumerate(value_cols)})
    right["__t"] = ft.array
    right["__k"] = pd.Series(_key(features[entity]).tolist(), dtype=object, index=right.index)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(np.arange(n))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        col = picked[f"__v{i}"]
        result[c] = col.array if len(col) else pd.Series(features[c].iloc[:0].array).array
    return result
