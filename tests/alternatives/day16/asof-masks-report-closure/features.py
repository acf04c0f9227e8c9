"""Task 1: point-in-time correct features, the join every feature store is built around.

Contract (the tests check exactly this):
- `point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
  feature_time="feature_timestamp", ttl=None)` returns a NEW frame: every `labels` row, in
  the labels' original order and with their index, plus every column of `features` other
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

import pandas as pd


def _joinable(values):
    """A numpy int column as a nullable integer array (Int64, UInt64, ...): the join fills <NA> where no row
    qualifies, where a numpy int column would become float64 and round values above 2**53."""
    if isinstance(values, pd.arrays.NumpyExtensionArray) and values.dtype.kind in "iu":
        return pd.array(values.to_numpy())
    return values


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
    lt = pd.to_datetime(labels[label_time])
    ft = pd.to_datetime(features[feature_time])
    l_aware, f_aware = lt.dt.tz is not None, ft.dt.tz is not None
    if l_aware != f_aware:
        raise ValueError("tz-aware timestamps on one side and naive ones on the other")
    if l_aware:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    lt, ft = lt.dt.as_unit("ns"), ft.dt.as_unit("ns")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]

    n = len(labels)
    left = pd.DataFrame({"__t": lt.array, "__k": pd.Series(labels[entity].to_numpy(dtype=object), dtype=object),
                         "__pos": range(n)})
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")
    right = pd.DataFrame({f"__v{i}": _joinable(features[c].array) for i, c in enumerate(value_cols)})
    right["__t"] = ft.array
    right["__k"] = pd.Series(features[entity].to_numpy(dtype=object), index=right.index, dtype=object)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(range(n))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        result[c] = picked[f"__v{i}"].array
    return result
