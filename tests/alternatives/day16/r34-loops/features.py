"""Point-in-time join, the slow honest way: per-entity buckets of (time, position), scanned per label."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


def _instants(column: pd.Series) -> list:
    """Each time as integer nanoseconds since the epoch (UTC), or None when missing."""
    out = []
    for stamp in column.tolist():
        if stamp is None or stamp is pd.NaT or pd.isna(stamp):
            out.append(None)
        else:
            stamp = pd.Timestamp(stamp)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            out.append(stamp.as_unit("ns").value)
    return out


def _aware(column: pd.Series) -> bool:
    return getattr(column.dtype, "tz", None) is not None


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(missing[0])
    if _aware(labels[label_time]) != _aware(features[feature_time]):
        raise ValueError("cannot compare tz-aware times with naive ones")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value

    buckets: dict = defaultdict(list)
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), _instants(features[feature_time]))):
        if t is not None:
            buckets[key].append((t, pos))

    picks = []
    for key, t in zip(labels[entity].tolist(), _instants(labels[label_time])):
        best = None
        if t is not None:
            for ft, pos in buckets.get(key, ()):
                if ft > t or (ttl_ns is not None and ft < t - ttl_ns):
                    continue
                if best is None or ft >= best[0]:
                    best = (ft, pos)
        picks.append(-1 if best is None else best[1])

    out = labels.copy(deep=True)
    gaps = -1 in picks
    for name in features.columns:
        if name in (entity, feature_time):
            continue
        column = features[name]
        if gaps and column.dtype.kind in "iu":
            column = column.astype("Int64" if column.dtype.kind == "i" else "UInt64")
        out[name] = column.array.take(np.asarray(picks, dtype=np.int64), allow_fill=True)
    return out
