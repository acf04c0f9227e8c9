"""Task 1: point-in-time join, written as the slow, obvious scan per label."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


def _aware(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.DatetimeTZDtype)


def point_in_time_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity: str = "entity_id",
    label_time: str = "event_timestamp",
    feature_time: str = "feature_timestamp",
    ttl: pd.Timedelta | None = None,
) -> pd.DataFrame:
    for column in (entity, label_time):
        if column not in labels.columns:
            raise KeyError(column)
    for column in (entity, feature_time):
        if column not in features.columns:
            raise KeyError(column)
    if _aware(labels[label_time]) != _aware(features[feature_time]):
        raise ValueError("one time column is tz-aware and the other naive")

    window = None if ttl is None else pd.Timedelta(ttl)

    # entity -> [(time, position in features)], timeless rows never enter
    history: dict = defaultdict(list)
    f_keys = features[entity].tolist()
    f_times = pd.to_datetime(features[feature_time]).tolist()
    for pos, (key, when) in enumerate(zip(f_keys, f_times)):
        if when is pd.NaT or pd.isna(when):
            continue
        history[key].append((when, pos))

    l_keys = labels[entity].tolist()
    l_times = pd.to_datetime(labels[label_time]).tolist()
    chosen = []
    for key, when in zip(l_keys, l_times):
        best = -1
        best_time = None
        if not (when is pd.NaT or pd.isna(when)):
            for t, pos in history.get(key, ()):
                if t > when:
                    continue
                if window is not None and t < when - window:
                    continue
                if best_time is None or t >= best_time:  # later position wins a tie
                    best_time, best = t, pos
        chosen.append(best)

    result = labels.copy()
    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    for c in value_columns:
        col = features[c]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
            source = pd.Series(pd.array(col.to_numpy()))
        else:
            source = pd.Series(col.array)
        result[c] = source.reindex(chosen).array
    return result
