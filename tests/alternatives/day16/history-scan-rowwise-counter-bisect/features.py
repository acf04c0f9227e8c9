"""Task 1: point-in-time join by scanning each entity's history (no merge_asof)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


def _ns(series: pd.Series) -> tuple[list, bool]:
    """Instants as Python ints (UTC nanoseconds), None where missing; and whether aware."""
    s = pd.to_datetime(series)
    aware = s.dt.tz is not None
    if aware:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    s = s.dt.as_unit("ns")
    ints = s.to_numpy().astype("datetime64[ns]").view("int64").tolist()
    missing = s.isna().to_numpy()
    return [None if m else v for v, m in zip(ints, missing)], aware


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for name in (entity, label_time):
        if name not in labels.columns:
            raise KeyError(f"labels have no column {name!r}")
    for name in (entity, feature_time):
        if name not in features.columns:
            raise KeyError(f"features have no column {name!r}")
    l_ns, l_aware = _ns(labels[label_time])
    f_ns, f_aware = _ns(features[feature_time])
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware with naive times")
    ttl_ns = None if ttl is None else int(pd.Timedelta(ttl).value)

    history: dict = defaultdict(list)  # key -> [(time, position)]
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), f_ns)):
        if t is not None:
            history[key].append((t, pos))

    chosen: list = []
    for key, t in zip(labels[entity].tolist(), l_ns):
        best = None
        if t is not None:
            for ft, pos in history.get(key, ()):
                if ft > t or (ttl_ns is not None and ft < t - ttl_ns):
                    continue
                if best is None or ft > best[0] or (ft == best[0] and pos > best[1]):
                    best = (ft, pos)
        chosen.append(-1 if best is None else best[1])

    take = np.asarray(chosen, dtype=np.int64)
    has = take >= 0
    result = labels.copy()
    for name in features.columns:
        if name in (entity, feature_time):
            continue
        source = features[name].reset_index(drop=True)
        if isinstance(source.dtype, np.dtype) and source.dtype.kind in "iu" and not has.all():
            source = pd.Series(pd.array(source.to_numpy()))  # Int64/UInt64: <NA>, not float64 rounding above 2**53
        picked = source.reindex(np.where(has, take, -1))  # -1 is not a label: missing
        result[name] = picked.array
    return result
