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

from bisect import bisect_right

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
    needed = [(labels, entity), (labels, label_time), (features, entity), (features, feature_time)]
    missing = [name for frame, name in needed if name not in frame.columns]
    if missing:
        raise KeyError(f"missing column {missing[0]!r}")
    label_ns = _instants(labels[label_time])
    feature_ns = _instants(features[feature_time])
    if label_ns[0] != feature_ns[0]:
        raise ValueError("cannot compare tz-aware and naive timestamps")

    # entity -> ([time, ...], [position, ...]) sorted by (time, position)
    history: dict = {}
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), feature_ns[1])):
        if t is not None:
            history.setdefault(key, []).append((t, pos))
    index = {key: ([t for t, _ in rows], [p for _, p in rows]) for key, rows in
             ((key, sorted(rows)) for key, rows in history.items())}
    ttl_ns = None if ttl is None else int(pd.Timedelta(ttl).value)

    chosen = []
    for key, t in zip(labels[entity].tolist(), label_ns[1]):
        pick = -1
        if t is not None and key in index:
            times, positions = index[key]
            i = bisect_right(times, t)
            if i and (ttl_ns is None or times[i - 1] >= t - ttl_ns):
                pick = positions[i - 1]
        chosen.append(pick)

    result = labels.copy()
    for name in features.columns:
        if name in (entity, feature_time):
            continue
        column = features[name].reset_index(drop=True)
        if column.dtype.kind in "iu":  # int64 -> Int64, uint64 -> UInt64: a missing row is <NA>, and no value is
            column = column.astype(column.dtype.name.replace("u", "U").replace("i", "I"))  # rounded through float64
        result[name] = column.reindex(chosen).array
    return result


def _instants(times: pd.Series) -> tuple[bool, list]:
    """(aware?, [nanoseconds since the epoch as int, or None for a missing time])."""
    times = pd.to_datetime(times)
    aware = times.dt.tz is not None
    if aware:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    times = times.dt.as_unit("ns")
    return aware, [None if pd.isna(t) else t.value for t in times]
