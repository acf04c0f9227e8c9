"""Point-in-time join written as the slow scan: group feature rows per entity, then pick."""

from __future__ import annotations

import pandas as pd


def _instants(series: pd.Series) -> tuple[list, bool]:
    times = pd.to_datetime(series)
    aware = times.dt.tz is not None
    if aware:
        times = times.dt.tz_convert("UTC")
    return [None if pd.isna(t) else pd.Timestamp(t).as_unit("ns") for t in times], aware


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(f"missing column(s): {', '.join(missing)}")
    label_times, l_aware = _instants(labels[label_time])
    feature_times, f_aware = _instants(features[feature_time])
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware and naive timestamps")

    by_entity: dict = {}
    for pos, (key, when) in enumerate(zip(features[entity].tolist(), feature_times)):
        if when is not None:
            by_entity.setdefault(key, []).append((when, pos))

    chosen = []
    for key, when in zip(labels[entity].tolist(), label_times):
        best = None
        if when is not None:
            oldest = None if ttl is None else when - ttl
            for f_when, pos in by_entity.get(key, ()):
                if f_when > when or (oldest is not None and f_when < oldest):
                    continue
                if best is None or f_when >= best[0]:
                    best = (f_when, pos)
        chosen.append(-1 if best is None else best[1])

    result = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        source = features[column].reset_index(drop=True)
        if source.dtype.kind in "iu":  # exact Python ints, not float64 (which rounds above 2**53) once a row is missing
            source = pd.Series(source.to_numpy(dtype=object))
        taken = source.reindex(chosen)
        result[column] = taken.to_numpy() if taken.dtype.kind != "M" or getattr(taken.dtype, "tz", None) is None else taken.array
    return result
