"""Point-in-time join without merge_asof: per-entity sorted time lists and bisect."""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

import pandas as pd


def _ns(frame: pd.DataFrame, column: str):
    idx = pd.DatetimeIndex(frame[column])
    return idx, idx.tz is not None


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(f"missing column(s): {missing}")
    lidx, laware = _ns(labels, label_time)
    fidx, faware = _ns(features, feature_time)
    if laware != faware:
        raise ValueError("one side has tz-aware times, the other naive ones")
    if laware:
        lidx, fidx = lidx.tz_convert(None), fidx.tz_convert(None)
    lns = lidx.as_unit("ns").asi8
    fns = fidx.as_unit("ns").asi8
    lnat, fnat = lidx.isna(), fidx.isna()
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).as_unit("ns").value

    history = defaultdict(list)  # entity -> [(time, position)] in features order
    for pos, (key, t, nat) in enumerate(zip(features[entity].tolist(), fns, fnat)):
        if not nat:
            history[key].append((int(t), pos))
    times = {}
    for key, rows in history.items():
        rows.sort(key=lambda r: r[0])  # stable: equal times keep features order
        times[key] = ([t for t, _ in rows], [p for _, p in rows])

    chosen = []
    for key, t, nat in zip(labels[entity].tolist(), lns, lnat):
        pick = -1
        if not nat and key in times:
            ts, ps = times[key]
            i = bisect_right(ts, int(t)) - 1
            if i >= 0 and (ttl_ns is None or ts[i] >= int(t) - ttl_ns):
                pick = ps[i]
        chosen.append(pick)

    result = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        source = features[column].reset_index(drop=True)
        if source.dtype.kind in "iu":  # an object column of Python ints: a -1 pick gives NaN and leaves the
            source = source.astype(object)  # other values exact (float64 would round them above 2**53)
        result[column] = source.reindex(chosen).to_numpy()
    return result
