"""Point-in-time join by hand: per-entity sorted timelines and bisect."""

from __future__ import annotations

import bisect
from collections import defaultdict

import pandas as pd


def _stamps(series: pd.Series) -> list:
    return [pd.Timestamp(v) if not pd.isna(v) else None for v in series.tolist()]


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    needed = [(labels, entity), (labels, label_time), (features, entity), (features, feature_time)]
    for frame, name in needed:
        if name not in frame:
            raise KeyError(f"missing column {name!r}")
    l_times = _stamps(labels[label_time])
    f_times = _stamps(features[feature_time])
    aware = {t.tzinfo is not None for t in l_times + f_times if t is not None}
    # the columns' dtypes say it too, also when a side has no row (or no time) to look at
    aware |= {getattr(frame[name].dtype, "tz", None) is not None
              for frame, name in ((labels, label_time), (features, feature_time))}
    if len(aware) > 1:
        raise ValueError("tz-aware and naive timestamps cannot be compared")
    if aware == {True}:
        l_times = [None if t is None else t.tz_convert("UTC") for t in l_times]
        f_times = [None if t is None else t.tz_convert("UTC") for t in f_times]

    timeline: dict = defaultdict(list)  # entity -> [(time, position)] in feature order
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), f_times)):
        if t is not None:
            timeline[key].append((t, pos))
    times: dict = {}
    for key, entries in timeline.items():
        entries.sort(key=lambda e: e[0])  # stable: ties keep feature order
        times[key] = [t for t, _ in entries]

    chosen = []
    for key, t in zip(labels[entity].tolist(), l_times):
        pos = -1
        if t is not None and key in times:
            i = bisect.bisect_right(times[key], t) - 1
            if i >= 0:
                ft, p = timeline[key][i]
                if ttl is None or ft >= t - ttl:
                    pos = p
        chosen.append(pos)

    result = labels.copy()
    for col in features.columns:
        if col in (entity, feature_time):
            continue
        source = features[col].reset_index(drop=True)
        if source.dtype.kind in "iu":  # plain Python ints and None: a float64 column would round them above 2**53
            ints = source.tolist()
            result[col] = pd.array([None if pos < 0 else ints[pos] for pos in chosen], dtype=object)
            continue
        values = source.reindex(chosen)
        result[col] = values.array
    return result
