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


def _as_utc_ns(times: pd.Series) -> tuple[pd.Series, bool]:
    times = pd.to_datetime(times)
    aware = times.dt.tz is not None
    if aware:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.as_unit("ns"), aware


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
    for frame, names in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for name in names:
            if name not in frame.columns:
                raise KeyError(name)
    lt, label_aware = _as_utc_ns(labels[label_time])
    ft, feature_aware = _as_utc_ns(features[feature_time])
    if label_aware != feature_aware:
        raise ValueError("tz-aware and naive timestamps cannot be compared")
    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    temp = [f"v{i}" for i in range(len(value_columns))]
    n = len(labels)
    left = pd.DataFrame({"t": lt.to_numpy(), "k": pd.Series(labels[entity].to_numpy(), dtype=object), "pos": np.arange(n)})
    left = left[left["t"].notna()].sort_values("t", kind="mergesort")
    right = pd.DataFrame({"t": ft.to_numpy(), "k": pd.Series(features[entity].to_numpy(), dtype=object)})
    for name, column in zip(temp, value_columns):
        dtype = features[column].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":  # masked ints: <NA> where no row qualifies, where
            # numpy ints would become float64 and round values above 2**53
            right[name] = pd.arrays.IntegerArray(features[column].to_numpy(), np.zeros(len(features), dtype=bool))
        else:
            right[name] = features[column].array
    right = right[right["t"].notna()].sort_values("t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="t", by="k", direction="backward", allow_exact_matches=True,
                           tolerance=None if ttl is None else pd.Timedelta(ttl))
    picked = joined.set_index("pos").reindex(range(n))
    result = labels.copy()
    for name, column in zip(temp, value_columns):
        result[column] = picked[name].array
    return result
