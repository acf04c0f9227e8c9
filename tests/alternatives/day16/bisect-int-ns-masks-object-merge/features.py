"""Point-in-time join, written as a plain per-entity index searched with bisect."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pandas as pd


def _require(frame: pd.DataFrame, *names: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise KeyError(name)


def _instants(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 UTC nanoseconds, missing mask) for a datetime column."""
    times = pd.Series(column.array, copy=True)
    if getattr(times.dtype, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = times.isna().to_numpy()
    ns = times.dt.as_unit("ns").to_numpy().view("int64")
    return ns, missing


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    _require(labels, entity, label_time)
    _require(features, entity, feature_time)
    aware_l = getattr(labels[label_time].dtype, "tz", None) is not None
    aware_f = getattr(features[feature_time].dtype, "tz", None) is not None
    if aware_l != aware_f:
        raise ValueError("cannot compare tz-aware and naive timestamps")

    f_ns, f_missing = _instants(features[feature_time])
    l_ns, l_missing = _instants(labels[label_time])
    f_keys = features[entity].tolist()
    l_keys = labels[entity].tolist()

    by_entity: dict = {}
    for pos, (key, t, gone) in enumerate(zip(f_keys, f_ns.tolist(), f_missing.tolist())):
        if not gone:
            by_entity.setdefault(key, []).append((t, pos))
    index = {}
    for key, rows in by_entity.items():
        rows.sort()  # by time, then position: the last of equal times comes last
        index[key] = ([t for t, _ in rows], [p for _, p in rows])

    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value
    chosen = []
    for key, t, gone in zip(l_keys, l_ns.tolist(), l_missing.tolist()):
        pick = -1
        if not gone and key in index:
            times, positions = index[key]
            i = bisect_right(times, t)
            if i:
                if ttl_ns is None or times[i - 1] >= t - ttl_ns:
                    pick = positions[i - 1]
        chosen.append(pick)

    result = labels.copy()
    for name in features.columns:
        if name in (entity, feature_time):
            continue
        column = features[name].reset_index(drop=True)
        if column.dtype.kind in "iu":
            column = column.astype(object)  # Python ints: the -1 rows must not turn them into rounded float64
        result[name] = column.reindex(chosen).array
    return result
