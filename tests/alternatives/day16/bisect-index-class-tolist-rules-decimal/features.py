"""Point-in-time join as an explicit per-entity index searched with bisect (no merge_asof)."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pandas as pd


def _instants(times: pd.Series) -> tuple[list, bool]:
    """Nanoseconds since the epoch (UTC) per row, None for a missing time; and whether aware."""
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        times = pd.to_datetime(times)
    aware = isinstance(times.dtype, pd.DatetimeTZDtype)
    out = []
    for stamp in times.tolist():
        if stamp is pd.NaT or stamp is None:
            out.append(None)
        else:
            out.append(pd.Timestamp(stamp).as_unit("ns").value)
    return out, aware


class _AsOfIndex:
    def __init__(self, keys: list, instants: list):
        self._by_key: dict = {}
        for pos, (key, t) in enumerate(zip(keys, instants)):
            if t is not None:
                self._by_key.setdefault(key, []).append((t, pos))
        self._times = {}
        for key, rows in self._by_key.items():
            rows.sort()  # (time, position): equal times keep the features' order
            self._times[key] = [t for t, _ in rows]

    def lookup(self, key, t, ttl_ns):
        if t is None or key not in self._times:
            return -1
        i = bisect_right(self._times[key], t)
        if i == 0:
            return -1
        found_t, pos = self._by_key[key][i - 1]
        if ttl_ns is not None and found_t < t - ttl_ns:
            return -1
        return pos


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(missing[0])
    label_ns, label_aware = _instants(labels[label_time])
    feature_ns, feature_aware = _instants(features[feature_time])
    if label_aware != feature_aware:
        raise ValueError("one side is tz-aware, the other naive")
    index = _AsOfIndex(features[entity].tolist(), feature_ns)
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value
    picked = np.array([index.lookup(k, t, ttl_ns) for k, t in zip(labels[entity].tolist(), label_ns)],
                      dtype="int64")
    out = {c: labels[c] for c in labels.columns}
    for c in features.columns:
        if c in (entity, feature_time):
            continue
        column = features[c].reset_index(drop=True)
        if isinstance(column.dtype, np.dtype) and pd.api.types.is_integer_dtype(column.dtype):
            column = pd.Series(pd.array(column.to_numpy()))  # Int64/UInt64...: a fill gives <NA>, not rounded floats
        taken = column.array.take(picked, allow_fill=True)
        out[c] = pd.Series(taken, index=labels.index)
    result = pd.concat(out, axis=1) if out else labels.copy()
    result.index = labels.index.copy()
    return result
