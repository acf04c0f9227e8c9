"""Point-in-time join built on pandas.merge_asof."""
from __future__ import annotations

import pandas as pd


def _utc_ns(times: pd.Series) -> pd.Series:
    if not pd.api.types.is_datetime64_any_dtype(times):
        times = pd.to_datetime(times)
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.as_unit("ns")


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, cols in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for c in cols:
            if c not in frame.columns:
                raise KeyError(c)
    lt, ft = labels[label_time], features[feature_time]
    l_aware = isinstance(lt.dtype, pd.DatetimeTZDtype)
    f_aware = isinstance(ft.dtype, pd.DatetimeTZDtype)
    if l_aware != f_aware:
        raise ValueError("tz-aware and naive timestamps cannot be compared")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    n = len(labels)
    left = pd.DataFrame({"__t": _utc_ns(lt).to_numpy(), "__k": pd.Series(labels[entity].tolist(), dtype=object),
                         "__p": range(n)})
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    right = pd.DataFrame({f"__v{i}": features[c].reset_index(drop=True) for i, c in enumerate(value_cols)},
                         index=range(len(features)))
    ints = [name for name in right.columns if right[name].dtype.kind in "iu"]
    right[ints] = right[ints].astype(object)  # Python ints: a label with no row must not make them rounded float64
    right["__t"] = _utc_ns(ft).to_numpy()
    right["__k"] = pd.Series(features[entity].tolist(), dtype=object, index=right.index)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__p").reindex(range(n))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        result[c] = picked[f"__v{i}"].array
    return result
