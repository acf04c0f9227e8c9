"""Point-in-time join: merge_asof on helper frames, then take the chosen feature rows by position."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_utc_ns(times: pd.Series) -> pd.Series:
    times = pd.Series(times.array, copy=True)
    if getattr(times.dtype, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.as_unit("ns")


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, names in ((labels, (entity, label_time)), (features, (entity, feature_time))):
        for name in names:
            if name not in frame.columns:
                raise KeyError(name)
    lt, ft = labels[label_time], features[feature_time]
    if not pd.api.types.is_datetime64_any_dtype(lt):
        lt = pd.to_datetime(lt)
    if not pd.api.types.is_datetime64_any_dtype(ft):
        ft = pd.to_datetime(ft)
    if (getattr(lt.dtype, "tz", None) is None) != (getattr(ft.dtype, "tz", None) is None):
        raise ValueError("one time column is tz-aware and the other is naive")

    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    left = pd.DataFrame({"t": _as_utc_ns(lt), "k": pd.Series(labels[entity].array, dtype=object),
                         "lpos": np.arange(len(labels))})
    right = pd.DataFrame({"t": _as_utc_ns(ft), "k": pd.Series(features[entity].array, dtype=object),
                          "rpos": np.arange(len(features))})
    left = left[left["t"].notna()].sort_values("t", kind="mergesort")
    right = right[right["t"].notna()].sort_values("t", kind="mergesort")
    chosen = np.full(len(labels), -1, dtype=np.int64)
    if len(left) and len(right):
        joined = pd.merge_asof(left, right, on="t", by="k", direction="backward", allow_exact_matches=True,
                               tolerance=ttl)
        found = joined["rpos"].notna().to_numpy()
        chosen[joined["lpos"].to_numpy()[found]] = joined["rpos"].to_numpy()[found].astype(np.int64)

    result = labels.copy()
    any_missing = bool((chosen < 0).any())
    for column in value_columns:
        source = features[column]
        if any_missing and source.dtype.kind in "iu":
            source = source.astype("Int64" if source.dtype.kind == "i" else "UInt64")
        result[column] = source.array.take(chosen, allow_fill=True)
    return result
