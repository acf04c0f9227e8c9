"""Task 1: point-in-time correct features, the join every feature store is built around.

Contract (the tests check exactly this):
- `point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
  feature_time="feature_timestamp", ttl=None)` returns a NEW frame: every `labels` row as it
  was (same values and dtypes, a time column keeps its unit and zone), in the labels'
  original order and with their index, plus every column of `features` other
  than `entity` and `feature_time`, and no other column (`label_time` and `feature_time` may be
  one name: the labels' time column is kept).
- A label row takes its feature values from the row of the same entity with the greatest
  `feature_time <= label_time` (with `ttl`, also `feature_time >= label_time - ttl`);
  among rows sharing that greatest time, the last one in `features`' order wins. The values
  are taken as they are: a missing value in that row stays missing (no older row stands in).
- Where no row qualifies, the feature columns hold missing values (NaN/None/NaT; an integer
  column too, never a 0, and its other values stay exact: never through float64). A row whose
  time is missing (NaT) matches nothing: such a label gets missing values, such a feature
  row is never used.
- Neither input is modified; neither needs to be sorted; the features' index plays no
  part (it may repeat labels); the two time columns may have different resolutions (datetime64[s] vs [ns]), naive or aware.
- Entity keys match when equal (text exactly as given: "A" and "a " are not "a"), whatever the numeric dtypes (7 as int64, int32 or 7.0 is
  one entity; the text "7" is not); integer keys are never cast to float (int64 and uint64 ids
  above 2**53 differ), nor one side's keys to the other's type (7.5 is not 7).
- A missing column raises KeyError naming it; tz-aware timestamps on one side and naive
  ones on the other raise ValueError. Aware times compare as instants (other zones, and
  across a daylight-saving change). Each call reads both frames as they are then and uses its
  own arguments, ttl too (no cache).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _times(col: pd.Series) -> pd.Series:
    if not pd.api.types.is_datetime64_any_dtype(col.dtype):
        col = pd.to_datetime(col)
    return col


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
    for name in (entity, label_time):
        if name not in labels.columns:
            raise KeyError(name)
    for name in (entity, feature_time):
        if name not in features.columns:
            raise KeyError(name)
    lt = _times(labels[label_time])
    ft = _times(features[feature_time])
    la = isinstance(lt.dtype, pd.DatetimeTZDtype)
    fa = isinstance(ft.dtype, pd.DatetimeTZDtype)
    if la != fa:
        raise ValueError("one time column is tz-aware and the other naive")
    if la:
        lt = lt.dt.tz_convert("UTC")
        ft = ft.dt.tz_convert("UTC")
    lt = lt.dt.as_unit("ns")
    ft = ft.dt.as_unit("ns")

    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    n = len(labels)
    left = pd.DataFrame({
        "__t": lt.to_numpy(),
        "__k": pd.Series(labels[entity].to_numpy(), dtype=object),
        "__pos": np.arange(n),
    })
    left["__k"] = left["__k"].astype(object)
    if la:
        left["__t"] = lt.reset_index(drop=True)
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")

    rdata = {}
    for i, c in enumerate(value_cols):
        col = features[c]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
            rdata[f"__v{i}"] = pd.array(col.to_numpy())
        else:
            rdata[f"__v{i}"] = col.array
    right = pd.DataFrame(rdata, index=pd.RangeIndex(len(features)))
    right["__t"] = ft.reset_index(drop=True)
    right["__k"] = pd.Series(features[entity].to_numpy(), dtype=object)
    right["__k"] = right["__k"].astype(object)
    right = right[right["__t"].notna()].sort_values("__t", kind="mergesort")

    joined = pd.merge_asof(left, right, on="__t", by="__k", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(pd.RangeIndex(n))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        result[c] = picked[f"__v{i}"].array
    return result
