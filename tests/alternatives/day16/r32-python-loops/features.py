"""Point-in-time join without merge_asof: per-entity histories searched with bisect."""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

import pandas as pd


def _instants(times: pd.Series) -> list:
    """Each time as an int of UTC nanoseconds, or None when missing."""
    t = times
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    t = t.dt.as_unit("ns")
    return [None if pd.isna(v) else v.value for v in t]


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(missing[0])
    aware = [isinstance(labels[label_time].dtype, pd.DatetimeTZDtype),
             isinstance(features[feature_time].dtype, pd.DatetimeTZDtype)]
    if aware[0] != aware[1]:
        raise ValueError("cannot compare tz-aware with naive timestamps")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value

    history: dict = defaultdict(list)  # key -> [(time_ns, position)], position breaks ties
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), _instants(features[feature_time]))):
        if t is not None:
            history[key].append((t, pos))
    for rows in history.values():
        rows.sort()

    chosen = []
    for key, t in zip(labels[entity].tolist(), _instants(labels[label_time])):
        pick = None
        rows = history.get(key) if t is not None else None
        if rows:
            i = bisect_right(rows, (t, len(features)))
            if i:
                ft, pos = rows[i - 1]
                if ttl_ns is None or ft >= t - ttl_ns:
                    pick = pos
        chosen.append(pick)

    value_cols = [c for c in features.columns if c not in (entity, feature_time)]
    result = labels.copy()
    taken = [p if p is not None else -1 for p in chosen]
    for c in value_cols:
        col = features[c].reset_index(drop=True)
        if col.dtype.kind in "iu":
            col = col.astype(object)  # the padding NaN beside Python ints: an int column would turn float64 and round
        padded = col.reindex(range(-1, len(col)))  # position -1 is the missing value
        result[c] = padded.iloc[[p + 1 for p in taken]].array
    return result
