"""Point-in-time join, the slow and obvious way: index the feature rows by entity, scan them per label."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


def _require(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise KeyError(column)


def _aware(series: pd.Series) -> bool:
    return getattr(series.dtype, "tz", None) is not None


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    _require(labels, entity, label_time)
    _require(features, entity, feature_time)
    if _aware(labels[label_time]) is not _aware(features[feature_time]):
        raise ValueError("one time column is tz-aware and the other is naive")

    # entity value -> list of (time, position) of its usable feature rows
    history: dict = defaultdict(list)
    for position, (key, stamp) in enumerate(zip(features[entity].tolist(), features[feature_time].tolist())):
        if pd.isna(stamp):
            continue
        history[key].append((stamp, position))

    chosen: list[int] = []
    for key, stamp in zip(labels[entity].tolist(), labels[label_time].tolist()):
        best_time, best_position = None, -1
        if not pd.isna(stamp):
            oldest = None if ttl is None else stamp - ttl
            for when, position in history.get(key, ()):
                if when > stamp or (oldest is not None and when < oldest):
                    continue
                if best_time is None or when >= best_time:  # ties: the later row in features' order wins
                    best_time, best_position = when, position
        chosen.append(best_position)

    out = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        source = features[column]
        if isinstance(source.dtype, np.dtype) and source.dtype.kind in "iu":  # numpy ints: nullable, exact
            source = pd.Series(pd.array(source.to_numpy()))
        source = pd.Series(source.array, index=pd.RangeIndex(len(source)))
        out[column] = source.reindex(chosen).array
    return out
