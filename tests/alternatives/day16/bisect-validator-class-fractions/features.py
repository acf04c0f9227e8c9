"""Point-in-time join: the slow, obvious version, one lookup table per entity."""

from __future__ import annotations

import bisect

import pandas as pd


def _instants(frame: pd.DataFrame, column: str) -> tuple[list, bool]:
    """The column's times as integer nanoseconds since the epoch (None for NaT), and awareness."""
    times = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        times = pd.to_datetime(times)
    aware = times.dt.tz is not None
    if aware:
        times = times.dt.tz_convert("UTC")
    out = []
    for stamp in times.tolist():
        out.append(None if pd.isna(stamp) else stamp.value if stamp.unit == "ns" else stamp.as_unit("ns").value)
    return out, aware


def _key(value):
    """Python value used as a dict key: 7, np.int32(7) and 7.0 are one key, "7" another."""
    return value.item() if hasattr(value, "item") else value


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Every label row (same order, same index) with the features known at its time."""
    for frame, column in ((labels, entity), (labels, label_time), (features, entity), (features, feature_time)):
        if column not in frame.columns:
            raise KeyError(column)
    label_ns, label_aware = _instants(labels, label_time)
    feature_ns, feature_aware = _instants(features, feature_time)
    if label_aware != feature_aware:
        raise ValueError("one time column is tz-aware and the other is naive")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value

    # entity -> (sorted times, feature row positions), ties kept in features' order
    history: dict = {}
    for position, (key, t) in enumerate(zip(features[entity].tolist(), feature_ns)):
        if t is None or pd.isna(key):
            continue
        history.setdefault(_key(key), []).append((t, position))
    table = {}
    for key, rows in history.items():
        rows.sort()  # (time, position): equal times stay in features' order
        table[key] = ([t for t, _ in rows], [p for _, p in rows])

    chosen = []
    for key, t in zip(labels[entity].tolist(), label_ns):
        found = -1
        if t is not None and not pd.isna(key) and _key(key) in table:
            times, positions = table[key if not hasattr(key, "item") else key.item()]
            i = bisect.bisect_right(times, t) - 1
            if i >= 0 and (ttl_ns is None or times[i] >= t - ttl_ns):
                found = positions[i]
        chosen.append(found)

    result = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        source = features[column].reset_index(drop=True)
        if pd.api.types.is_integer_dtype(source.dtype) and not source.hasnans:
            source = pd.Series([int(v) for v in source], dtype=object)  # exact ints: float64 rounds above 2**53
        result[column] = source.reindex(chosen).array
    return result
