"""Point-in-time join, the slow and obvious way: a per-entity timeline searched with bisect."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pandas as pd
from pandas.api.extensions import take


class Timeline:
    """For each entity, its feature rows' (time in UTC nanoseconds, position), sorted by time then position."""

    def __init__(self, keys: list, times: list):
        self.rows: dict = {}
        for pos, (key, t) in enumerate(zip(keys, times)):
            if t is None:
                continue
            self.rows.setdefault(key, []).append((t, pos))
        for rows in self.rows.values():
            rows.sort()

    def as_of(self, key, t, ttl_ns):
        rows = self.rows.get(key)
        if not rows or t is None:
            return -1
        i = bisect_right(rows, (t, float("inf"))) - 1
        if i < 0:
            return -1
        found_t, pos = rows[i]
        if ttl_ns is not None and found_t < t - ttl_ns:
            return -1
        return pos


def _instants(col: pd.Series) -> tuple[list, bool]:
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        col = pd.Series(pd.to_datetime(col.array))
    aware = col.dt.tz is not None
    if aware:
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = col.dt.as_unit("ns")
    out = [None if missing else int(v) for v, missing in zip(ns.array.asi8.tolist(), ns.isna().tolist())]
    return out, aware


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    needed = [(labels, entity), (labels, label_time), (features, entity), (features, feature_time)]
    absent = [name for frame, name in needed if name not in frame.columns]
    if absent:
        raise KeyError(f"missing column {absent[0]!r}")
    l_times, l_aware = _instants(labels[label_time])
    f_times, f_aware = _instants(features[feature_time])
    if l_aware is not f_aware:
        raise ValueError("one side is tz-aware and the other naive")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value
    timeline = Timeline(features[entity].tolist(), f_times)
    picks = np.array([timeline.as_of(k, t, ttl_ns) for k, t in zip(labels[entity].tolist(), l_times)],
                     dtype=np.intp)
    out = labels.copy()
    for name in features.columns:
        if name in (entity, feature_time):
            continue
        values = features[name].array
        if isinstance(features[name].dtype, np.dtype) and values.dtype.kind in "iu":
            values = np.asarray(values, dtype=object)  # Python ints, NaN where no row: no float64 rounding them
        out[name] = take(values, picks, allow_fill=True)
    return out
