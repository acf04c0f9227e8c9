"""Point-in-time join built on pandas.merge_asof."""
from __future__ import annotations

import numpy as np
import pandas as pd


def _times(series: pd.Series) -> pd.Series:
    return pd.Series(pd.to_datetime(series.array), index=range(len(series)))


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, names in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for name in names:
            if name not in frame.columns:
                raise KeyError(name)
    lt = labels[label_time].reset_index(drop=True)
    ft = features[feature_time].reset_index(drop=True)
    if not pd.api.types.is_datetime64_any_dtype(lt):
        lt = pd.to_datetime(lt)
    if not pd.api.types.is_datetime64_any_dtype(ft):
        ft = pd.to_datetime(ft)
    l_aware, f_aware = lt.dt.tz is not None, ft.dt.tz is not None
    if l_aware != f_aware:
        raise ValueError("tz-aware timestamps on one side and naive ones on the other")
    if l_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    lt, ft = lt.dt.as_unit("ns"), ft.dt.as_unit("ns")

    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    left = pd.DataFrame({"__t": lt.array, "__k": labels[entity].astype(object).array,
                         "__pos": np.arange(len(labels))})
    right = pd.DataFrame({"__t": ft.array, "__k": features[entity].astype(object).array,
                          "__row": np.arange(len(features))})
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    rows = np.full(len(labels), -1, dtype=np.int64)
    if len(left) and len(right):
        joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                               allow_exact_matches=True, tolerance=ttl)
        hit = joined["__row"].notna()
        rows[joined.loc[hit, "__pos"].to_numpy()] = joined.loc[hit, "__row"].to_numpy().astype(np.int64)

    result = labels.copy()
    for col in value_cols:
        source = features[col].reset_index(drop=True)
        if isinstance(source.dtype, np.dtype) and source.dtype.kind in "iu" and (rows < 0).any():
            # Int64/UInt64...: the -1 rows get <NA>, where a numpy int column would become float64 and round
            source = source.astype(source.dtype.name.title().replace("Ui", "UI"))
        result[col] = source.reindex(rows).array
    return result
