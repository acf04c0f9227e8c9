"""Point-in-time join with pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    series = pd.to_datetime(frame[column]).reset_index(drop=True)
    return series


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, needed in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for column in needed:
            if column not in frame.columns:
                raise KeyError(column)
    lt, ft = _times(labels, label_time), _times(features, feature_time)
    l_aware, f_aware = lt.dt.tz is not None, ft.dt.tz is not None
    if l_aware != f_aware:
        raise ValueError("tz-aware timestamps on one side and naive ones on the other")
    if l_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    lt, ft = lt.dt.as_unit("ns"), ft.dt.as_unit("ns")
    value_columns = [c for c in features.columns if c not in (entity, feature_time)]

    left = pd.DataFrame({"__time": lt, "__key": labels[entity].astype(object).reset_index(drop=True),
                         "__pos": np.arange(len(labels))})
    left = left[left["__time"].notna()].sort_values("__time", kind="mergesort")
    right = features[value_columns].reset_index(drop=True)
    # integer columns as objects (Python ints): a label without a row must not turn them into rounded float64
    right = right.astype({c: object for c in value_columns if right[c].dtype.kind in "iu"
                          and isinstance(right[c].dtype, np.dtype)})
    right = right.assign(__time=ft, __key=features[entity].astype(object).reset_index(drop=True))
    right = right[right["__time"].notna()].sort_values("__time", kind="mergesort")

    joined = pd.merge_asof(left, right, on="__time", by="__key", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(range(len(labels)))
    result = labels.copy()
    for column in value_columns:
        result[column] = picked[column].array
    return result
