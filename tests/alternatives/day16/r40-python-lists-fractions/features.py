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
    for frame, col in ((labels, entity), (labels, label_time), (features, entity), (features, feature_time)):
        if col not in frame.columns:
            raise KeyError(col)
    ltz = getattr(labels[label_time].dtype, "tz", None)
    ftz = getattr(features[feature_time].dtype, "tz", None)
    if (ltz is None) != (ftz is None):
        raise ValueError("tz-aware and naive timestamps cannot be compared")
    value_cols = [c for c in features.columns if c not in (entity, feature_time)]

    # group feature rows by entity value (Python values: 7 == 7.0, "7" != 7)
    by_key: dict = {}
    fkeys = _plain(features[entity].tolist())
    ftimes = list(pd.to_datetime(features[feature_time]))
    for j, (k, t) in enumerate(zip(fkeys, ftimes)):
        if t is pd.NaT or pd.isna(t) or _missing(k):
            continue
        by_key.setdefault(_keyof(k), []).append((t, j))

    lkeys = _plain(labels[entity].tolist())
    ltimes = list(pd.to_datetime(labels[label_time]))
    chosen = []
    for k, t in zip(lkeys, ltimes):
        best = -1
        best_t = None
        if not (pd.isna(t) or _missing(k)):
            for ft, j in by_key.get(_keyof(k), ()):
                if ft > t:
                    continue
                if ttl is not None and ft < t - ttl:
                    continue
                if best_t is None or ft >= best_t:
                    best_t, best = ft, j
        chosen.append(best)

    result = labels.copy()
    idx = np.asarray(chosen, dtype=np.int64)
    for c in value_cols:
        col = features[c]
        if len(idx) and (idx >= 0).all():
            arr = col.array.take(idx)
        else:
            arr = col.array
            if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
                arr = pd.array(col.to_numpy())
            elif isinstance(col.dtype, np.dtype) and col.dtype.kind == "b":
                arr = pd.array(col.to_numpy(), dtype="boolean")
            arr = arr.take(idx, allow_fill=True)
        result[c] = pd.Series(arr, index=labels.index)
    return result


def _plain(values):
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _missing(v):
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _keyof(v):
    # type tag keeps str and numbers apart; numbers hash by value (7 == 7.0)
    if isinstance(v, str):
        return ("s", v)
    return ("v", v)
