"""Point-in-time join, written as the slow literal reading: a dict of each entity's rows, scanned per label."""

from __future__ import annotations

import pandas as pd


def _instants(column: pd.Series) -> tuple[list, bool]:
    """The column's times as integer UTC nanoseconds (None where missing), and whether it is aware."""
    times = pd.to_datetime(column)
    aware = getattr(times.dt, "tz", None) is not None
    if aware:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    times = times.dt.as_unit("ns")
    out = [None if pd.isna(t) else t.value for t in times.tolist()]
    return out, aware


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, names in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for name in names:
            if name not in frame.columns:
                raise KeyError(name)
    label_ns, label_aware = _instants(labels[label_time])
    feature_ns, feature_aware = _instants(features[feature_time])
    if label_aware != feature_aware:
        raise ValueError("tz-aware timestamps on one side and naive ones on the other")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value

    rows_of: dict = {}
    for pos, (key, t) in enumerate(zip(features[entity].tolist(), feature_ns)):
        if t is not None:
            rows_of.setdefault(key, []).append((t, pos))

    taken: list = []
    for key, t in zip(labels[entity].tolist(), label_ns):
        best = None
        if t is not None:
            for ft, pos in rows_of.get(key, ()):
                if ft > t or (ttl_ns is not None and ft < t - ttl_ns):
                    continue
                if best is None or ft >= best[0]:
                    best = (ft, pos)
        taken.append(None if best is None else best[1])

    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    result = labels.copy()
    for column in value_columns:
        source = features[column]
        picked = [source.iloc[p] if p is not None else None for p in taken]
        if all(p is not None for p in taken):
            out = source.iloc[[p for p in taken]].array
        else:
            dtype = source.dtype
            if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
                out = pd.array([v if v is not None else None for v in picked], dtype=dtype)
            else:
                out = pd.array(picked, dtype=object)
        result[column] = out
    return result
