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

from collections import defaultdict

import numpy as np
import pandas as pd


def _require(frame: pd.DataFrame, *names: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise KeyError(name)


def _as_datetimes(col: pd.Series) -> pd.Series:
    return col if pd.api.types.is_datetime64_any_dtype(col.dtype) else pd.to_datetime(col)


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
    lt = _as_datetimes(labels[label_time])
    ft = _as_datetimes(features[feature_time])
    if (getattr(lt.dtype, "tz", None) is None) != (getattr(ft.dtype, "tz", None) is None):
        raise ValueError("cannot compare tz-aware and naive timestamps")

    # entity -> list of (time, position) of usable feature rows, in features' order
    by_entity: dict = defaultdict(list)
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), list(ft))):
        if pd.isna(t):
            continue
        by_entity[key].append((t, pos))

    chosen: list[int] = []
    for key, t in zip(labels[entity].tolist(), list(lt)):
        best = -1
        best_t = None
        if not pd.isna(t):
            lo = None if ttl is None else t - ttl
            for ftime, pos in by_entity.get(key, ()):
                if ftime > t or (lo is not None and ftime < lo):
                    continue
                if best_t is None or ftime >= best_t:
                    best_t, best = ftime, pos
        chosen.append(best)

    result = labels.copy()
    for c in features.columns:
        if c in (entity, feature_time):
            continue
        col = features[c].reset_index(drop=True)
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
            prefix = "UInt" if col.dtype.kind == "u" else "Int"
            col = col.astype(f"{prefix}{col.dtype.itemsize * 8}")
        taken = col.reindex(chosen)
        result[c] = taken.array
    return result
