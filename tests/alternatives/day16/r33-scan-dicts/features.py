"""Point-in-time join, the slow way: per-entity lists of (time, row) scanned for every label."""
from __future__ import annotations

from collections import defaultdict

import pandas as pd


def _ns(series: pd.Series, aware: bool) -> list:
    """Times as integer UTC nanoseconds (None for NaT), in a copy."""
    s = series.copy()
    if aware:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    s = s.dt.as_unit("ns")
    out = []
    for stamp in s.tolist():
        out.append(None if pd.isna(stamp) else stamp.value)
    return out


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(missing[0])
    lt, ft = labels[label_time], features[feature_time]
    l_aware = getattr(lt.dtype, "tz", None) is not None
    f_aware = getattr(ft.dtype, "tz", None) is not None
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware and naive timestamps")
    label_ns, feature_ns = _ns(lt, l_aware), _ns(ft, f_aware)
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value

    by_entity: dict = defaultdict(list)
    for row, (key, t) in enumerate(zip(features[entity].tolist(), feature_ns)):
        if t is not None:
            by_entity[key].append((t, row))

    taken = []
    for key, t in zip(labels[entity].tolist(), label_ns):
        best = None
        if t is not None:
            for ftime, row in by_entity.get(key, ()):
                if ftime > t or (ttl_ns is not None and ftime < t - ttl_ns):
                    continue
                if best is None or ftime >= best[0]:
                    best = (ftime, row)
        taken.append(-1 if best is None else best[1])

    result = labels.copy(deep=True)
    hits = [i for i, r in enumerate(taken) if r >= 0]
    rows = [taken[i] for i in hits]
    for col in features.columns:
        if col in (entity, feature_time):
            continue
        picked = features[col].iloc[rows].set_axis(hits)
        if picked.dtype.kind in "iu" and len(hits) < len(labels):
            picked = picked.astype(object)  # Python ints keep every value; float64 would round them above 2**53
        result[col] = picked.reindex(range(len(labels))).array
    return result
