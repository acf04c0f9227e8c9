"""Point-in-time join with pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_time(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series)


def _values(series: pd.Series) -> np.ndarray:
    """The column's values; ints as Python ints in an object array, so a label with no row gets NaN
    beside them instead of turning them into float64 (which rounds values above 2**53)."""
    values = series.to_numpy()
    return values.astype(object) if values.dtype.kind in "iu" else values


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, cols in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for c in cols:
            if c not in frame.columns:
                raise KeyError(c)
    lt = _as_time(labels[label_time])
    ft = _as_time(features[feature_time])
    l_aware = getattr(lt.dt, "tz", None) is not None
    f_aware = getattr(ft.dt, "tz", None) is not None
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware and naive timestamps")
    if l_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    lt, ft = lt.dt.as_unit("ns"), ft.dt.as_unit("ns")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]

    left = pd.DataFrame({"__t": lt.array, "__k": labels[entity].astype(object).to_numpy(),
                         "__pos": np.arange(len(labels))})
    left["__k"] = left["__k"].astype(object)
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    right = pd.DataFrame({f"__v{i}": _values(features[c]) for i, c in enumerate(value_cols)})
    right["__t"] = ft.array
    right["__k"] = features[entity].astype(object).to_numpy()
    right["__k"] = right["__k"].astype(object)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(range(len(labels)))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        result[c] = picked[f"__v{i}"].array
    return result
