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


def _aware(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.DatetimeTZDtype)


def _key(v):
    return v.item() if isinstance(v, np.generic) else v


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
    needed = [(labels, entity), (labels, label_time), (features, entity), (features, feature_time)]
    for frame, col in needed:
        if col not in frame.columns:
            raise KeyError(col)
    if _aware(labels[label_time]) != _aware(features[feature_time]):
        raise ValueError("tz-aware and naive timestamps cannot be compared")

    # entity -> list of (time, position) of the usable feature rows
    by_entity: dict = {}
    f_times = features[feature_time].tolist()
    for pos, (k, t) in enumerate(zip(features[entity].tolist(), f_times)):
        if t is pd.NaT or pd.isna(t):
            continue
        by_entity.setdefault(_key(k), []).append((t, pos))

    picks = []
    for k, t in zip(labels[entity].tolist(), labels[label_time].tolist()):
        best_pos, best_t = -1, None
        if not (t is pd.NaT or pd.isna(t)):
            for ft, pos in by_entity.get(_key(k), ()):
                if ft > t:
                    continue
                if ttl is not None and ft < t - ttl:
                    continue
                if best_t is None or ft >= best_t:  # >=: the later row wins a tie
                    best_t, best_pos = ft, pos
        picks.append(best_pos)
    picks = np.asarray(picks, dtype=np.int64)

    out = labels.copy()
    for c in features.columns:
        if c == entity or c == feature_time:
            continue
        col = features[c]
        arr = col.array
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu" and (picks < 0).any():
            arr = pd.array(col.to_numpy())  # nullable Int*/UInt*: missing without float rounding
        out[c] = arr.take(picks, allow_fill=True)
    return out
