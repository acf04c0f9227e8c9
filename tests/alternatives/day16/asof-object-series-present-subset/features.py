"""Task 1: point-in-time correct features, the join every feature store is built around.

Contract (the tests check exactly this):
- `point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
  feature_time="feature_timestamp", ttl=None)` returns a NEW frame: every `labels` row as it
  was (same values and dtypes, a time column keeps its unit and zone), in the labels'
  original order and with their index, plus every column of `features` other
  than `entity` and `feature_time`, and no other column.
- A label row takes its feature values from the row of the same entity with the greatest
  `feature_time <= label_time` (with `ttl`, also `feature_time >= label_time - ttl`);
  among rows sharing that greatest time, the last one in `features`' order wins. The values
  are taken as they are: a missing value in that row stays missing (no older row stands in).
- Where no row qualifies, the feature columns hold missing values (NaN/None/NaT). A row whose
  time is missing (NaT) matches nothing: such a label gets missing values, such a feature
  row is never used.
- Neither input is modified; neither needs to be sorted; the features' index plays no
  part; the two time columns may have different resolutions (datetime64[s] vs [ns]).
- A missing column raises KeyError naming it; tz-aware timestamps on one side and naive
  ones on the other raise ValueError. Aware times compare as instants (other zones, and
  across a daylight-saving change). Each call reads both frames as they are then (no cache).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(frame[column])


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Every label row (same order, same index) with the features known at its time."""
    for frame, needed in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for column in needed:
            if column not in frame.columns:
                raise KeyError(column)
    lt, ft = _times(labels, label_time), _times(features, feature_time)
    label_aware, feature_aware = lt.dt.tz is not None, ft.dt.tz is not None
    if label_aware != feature_aware:
        raise ValueError("tz-aware timestamps on one side and naive ones on the other")
    if label_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    lt, ft = lt.dt.as_unit("ns"), ft.dt.as_unit("ns")

    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    n = len(labels)
    left = pd.DataFrame({"__time": lt.array, "__pos": np.arange(n)})
    left["__key"] = pd.Series(labels[entity].to_numpy(), dtype=object, index=left.index)
    left = left[left["__time"].notna()].sort_values("__time", kind="mergesort")
    right = pd.DataFrame({c: features[c].array for c in value_columns})
    ints = right.select_dtypes("integer").columns  # as Python ints in object columns: a label with no row
    right[ints] = right[ints].astype(object)  # would turn an int column into float64, rounding values above 2**53
    right["__time"] = ft.array
    right["__key"] = pd.Series(features[entity].to_numpy(), dtype=object, index=right.index)
    right = right[right["__time"].notna()].sort_values("__time", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__time", by="__key", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(np.arange(n))
    result = labels.copy()
    for column in value_columns:
        result[column] = picked[column].array
    return result
