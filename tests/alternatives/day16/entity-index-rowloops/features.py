"""Task 1: the point-in-time join, as a per-entity index searched with binary search.

Each entity's feature rows are kept as (time, position) sorted by time with a stable sort,
so the last row among equal times sits furthest right; `searchsorted(side="right") - 1`
is then the newest row at or before the label's time.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


def _nanoseconds(column: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """(int64 nanoseconds since the epoch as instants, missing mask, aware?)."""
    times = pd.to_datetime(column)
    aware = times.dt.tz is not None
    if aware:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = times.isna().to_numpy()
    ns = times.dt.as_unit("ns").to_numpy().astype("int64")
    return ns, missing, aware


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    missing_columns = [c for c in (entity, label_time) if c not in labels.columns] + \
                      [c for c in (entity, feature_time) if c not in features.columns]
    if missing_columns:
        raise KeyError(missing_columns[0])
    l_ns, l_missing, l_aware = _nanoseconds(labels[label_time])
    f_ns, f_missing, f_aware = _nanoseconds(features[feature_time])
    if l_aware != f_aware:
        raise ValueError("cannot compare tz-aware timestamps with naive ones")
    ttl_ns = None if ttl is None else pd.Timedelta(ttl).value

    by_entity: dict = defaultdict(list)
    for position, (key, skip) in enumerate(zip(features[entity].tolist(), f_missing)):
        if not skip:
            by_entity[key].append(position)
    index = {}
    for key, positions in by_entity.items():
        positions = np.asarray(positions)
        order = np.argsort(f_ns[positions], kind="stable")
        index[key] = (f_ns[positions][order], positions[order])

    chosen = []
    for key, when, skip in zip(labels[entity].tolist(), l_ns, l_missing):
        pick = -1
        if not skip and key in index:
            times, positions = index[key]
            at = int(np.searchsorted(times, when, side="right")) - 1
            if at >= 0 and (ttl_ns is None or times[at] >= when - ttl_ns):
                pick = int(positions[at])
        chosen.append(pick)

    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    source = features[value_columns].reset_index(drop=True)
    # integer columns as Python ints (object): a missing row must not turn them into float64, which rounds above 2**53
    source = source.astype({c: object for c, dtype in source.dtypes.items() if dtype.kind in "iu"})
    taken = source.reindex(chosen)  # -1 is no row: all missing
    result = labels.copy()
    for column in value_columns:
        result[column] = taken[column].to_numpy()
    return result
