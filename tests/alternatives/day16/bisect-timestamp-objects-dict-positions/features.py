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

from bisect import bisect_right
from collections import defaultdict

import pandas as pd


def _aware(times: pd.Series) -> bool:
    return isinstance(times.dtype, pd.DatetimeTZDtype)


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
    if _aware(labels[label_time]) != _aware(features[feature_time]):
        raise ValueError("cannot compare tz-aware with naive timestamps")

    # entity -> (times, positions), sorted by time then position: the last of equal times is last
    history: dict = defaultdict(list)
    for pos, (key, when) in enumerate(zip(features[entity].tolist(), features[feature_time].tolist())):
        if not pd.isna(when):
            history[key].append((pd.Timestamp(when), pos))
    lookup = {}
    for key, rows in history.items():
        rows.sort(key=lambda r: (r[0], r[1]))
        lookup[key] = ([r[0] for r in rows], [r[1] for r in rows])

    picked = []
    for key, when in zip(labels[entity].tolist(), labels[label_time].tolist()):
        choice = -1
        if not pd.isna(when) and key in lookup:
            when = pd.Timestamp(when)
            times, positions = lookup[key]
            i = bisect_right(times, when)
            if i > 0 and (ttl is None or times[i - 1] >= when - ttl):
                choice = positions[i - 1]
        picked.append(choice)

    result = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        source = features[column].reset_index(drop=True)
        if source.dtype.kind in "iu":  # nullable ints: a -1 position is <NA>, no float64 rounding values above 2**53
            source = source.astype("UInt64" if source.dtype.kind == "u" else "Int64")
        result[column] = source.reindex(picked).array
    return result
