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
    _require(labels, entity, label_time)
    _require(features, entity, feature_time)
    lt = _as_instants(labels[label_time])
    ft = _as_instants(features[feature_time])
    if (lt.dt.tz is None) != (ft.dt.tz is None):
        raise ValueError("cannot join tz-aware and naive timestamps")
    if lt.dt.tz is not None:
        lt, ft = lt.dt.tz_convert("UTC"), ft.dt.tz_convert("UTC")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]

    n = len(labels)
    left = pd.DataFrame({"__t": lt.array, "__pos": np.arange(n)})
    left["__k"] = pd.Series(_keys(labels[entity]), dtype=object)
    left = left[left["__t"].notna()].sort_values("__t", kind="mergesort")

    right = pd.DataFrame({f"__v{i}": _nullable(features[c]) for i, c in enumerate(value_cols)},
                         index=pd.RangeIndex(len(features)))
    right["__t"] = ft.array
    right["__k"] = pd.Series(_keys(features[entity]), dtype=object)
    right["__order"] = np.arange(len(features))
    right = right[right["__t"].notna()].sort_values(["__t", "__order"], kind="mergesort")

    joined = pd.merge_asof(left, right.drop(columns="__order"), on="__t", by="__k",
                           direction="backward", allow_exact_matches=True, tolerance=ttl)
    picked = joined.set_index("__pos").reindex(np.arange(n))
    result = labels.copy()
    for i, c in enumerate(value_cols):
        result[c] = pd.Series(picked[f"__v{i}"].array, index=labels.index)
    return result


def _require(frame: pd.DataFrame, *cols: str) -> None:
    for c in cols:
        if c not in frame.columns:
            raise KeyError(c)


def _as_instants(col: pd.Series) -> pd.Series:
    col = pd.Series(col.array, copy=True)
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        col = pd.to_datetime(col)
    return col.dt.as_unit("ns")


def _keys(col: pd.Series) -> np.ndarray:
    out = np.empty(len(col), dtype=object)
    out[:] = [v.item() if isinstance(v, np.generic) else v for v in col.tolist()]
    return out


def _nullable(col: pd.Series):
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
        return pd.array(col.to_numpy())
    if isinstance(col.dtype, np.dtype) and col.dtype.kind == "b":
        return pd.array(col.to_numpy(), dtype="boolean")
    return col.array
