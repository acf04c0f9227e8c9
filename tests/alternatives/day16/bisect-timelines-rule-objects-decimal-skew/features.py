"""Point-in-time join without merge_asof: an index of each entity's timed rows, searched with bisect."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

import pandas as pd


class _TimeLine:
    """Feature rows of one entity, ordered by (time in ns, position in the frame)."""

    def __init__(self):
        self.stamps: list[tuple[int, int]] = []

    def add(self, ns: int, pos: int) -> None:
        self.stamps.append((ns, pos))

    def freeze(self) -> None:
        self.stamps.sort()

    def as_of(self, ns: int, oldest: int | None) -> int | None:
        i = bisect_right(self.stamps, (ns, float("inf")))
        if i == 0:
            return None
        t, pos = self.stamps[i - 1]
        if oldest is not None and t < oldest:
            return None
        return pos


def _instants(series: pd.Series) -> list:
    """Each time as integer UTC nanoseconds, None for NaT; and whether the column is aware."""
    s = series
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s)
    aware = isinstance(s.dtype, pd.DatetimeTZDtype)
    out = []
    for ts in s.tolist():
        if ts is pd.NaT or pd.isna(ts):
            out.append(None)
        else:
            out.append(pd.Timestamp(ts).as_unit("ns").value)
    return out, aware


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(missing[0])
    label_ns, label_aware = _instants(labels[label_time])
    feature_ns, feature_aware = _instants(features[feature_time])
    if label_aware != feature_aware:
        raise ValueError("tz-aware and naive times cannot be compared")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).as_unit("ns").value

    lines: dict = defaultdict(_TimeLine)
    for pos, (key, ns) in enumerate(zip(features[entity].tolist(), feature_ns)):
        if ns is not None:
            lines[key].add(ns, pos)
    for line in lines.values():
        line.freeze()

    taken = []
    for key, ns in zip(labels[entity].tolist(), label_ns):
        line = lines.get(key) if ns is not None else None
        pos = None if line is None else line.as_of(ns, None if ttl_ns is None else ns - ttl_ns)
        taken.append(-1 if pos is None else pos)

    result = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        source = features[column].reset_index(drop=True)
        if pd.api.types.is_integer_dtype(source.dtype):
            source = pd.Series(source.tolist(), dtype=object)  # Python ints: a -1 row must not make them float64
        picked = source.reindex(taken)
        result[column] = picked.array
    return result
