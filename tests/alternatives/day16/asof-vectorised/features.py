"""Task 1: the point-in-time join, on top of pandas' own as-of merge."""

from __future__ import annotations

import numpy as np
import pandas as pd

_TIME, _KEY, _POS = "__pit_time__", "__pit_key__", "__pit_pos__"


def _as_instants(column: pd.Series) -> pd.Series:
    times = pd.to_datetime(column)
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC")
    return times.dt.as_unit("ns").reset_index(drop=True)


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    for frame, names in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for name in names:
            if name not in frame.columns:
                raise KeyError(name)
    lt, ft = _as_instants(labels[label_time]), _as_instants(features[feature_time])
    if (lt.dt.tz is None) != (ft.dt.tz is None):
        raise ValueError("tz-aware timestamps on one side and naive ones on the other")
    value_columns = [c for c in features.columns if c not in (entity, feature_time)]

    left = pd.DataFrame({_TIME: lt, _KEY: pd.Series(labels[entity].to_numpy(), dtype=object),
                         _POS: np.arange(len(labels))})
    left = left[left[_TIME].notna()].sort_values(_TIME, kind="mergesort")

    right = features[value_columns].reset_index(drop=True)
    for column in value_columns:
        if right[column].dtype.kind in "iu":  # as Python ints: a label without a row must not turn the column
            right[column] = right[column].astype(object)  # into float64, which rounds values above 2**53
    right[_TIME] = ft
    right[_KEY] = pd.Series(features[entity].to_numpy(), dtype=object)
    right = right[right[_TIME].notna()].sort_values(_TIME, kind="mergesort")

    joined = pd.merge_asof(left, right, on=_TIME, by=_KEY, direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index(_POS).reindex(range(len(labels)))
    result = labels.copy()
    for column in value_columns:
        result[column] = picked[column].array
    return result
