"""Point-in-time correct features: what a training row could have known at its own time.

A training set built by joining each label to the *latest* feature value leaks the
future into training; the model looks great offline and fails online. The join below
takes, for each label, the newest feature row of the same entity that existed at the
label's time, as a feature store's historical retrieval does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    for frame, what, columns in ((labels, "labels", (entity, label_time)), (features, "features", (entity, feature_time))):
        for column in columns:
            if column not in frame.columns:
                raise KeyError(f"{what} has no column {column!r}")
    label_times, feature_times = _times(labels[label_time]), _times(features[feature_time])
    if (label_times.dt.tz is None) != (feature_times.dt.tz is None):
        raise ValueError(
            f"{label_time!r} and {feature_time!r} mix time-zone-aware and naive timestamps; "
            "convert both to UTC first"
        )
    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    integer_columns = [c for c in value_columns
                       if isinstance(features[c].dtype, np.dtype) and features[c].dtype.kind in "iu"]

    # merge_asof needs both sides sorted on time and no missing times. Stable sorts keep
    # feature rows with equal times in their original order, so the last one wins a tie.
    left = pd.DataFrame({"_t": label_times.array, "_e": labels[entity].to_numpy(), "_pos": range(len(labels))})
    left = left.astype({"_e": object})  # one key type on both sides, whatever each was
    left = left[left["_t"].notna()].sort_values("_t", kind="mergesort")
    # Integer feature columns travel as pandas' nullable integers of their own width and sign (int64 -> Int64,
    # uint64 -> UInt64): a label that gets no row then holds <NA>, where float64 would round values above 2**53.
    right = features[value_columns].copy()
    for column in integer_columns:
        right[column] = pd.array(right[column].to_numpy())
    right["_t"] = feature_times.array
    right["_e"] = features[entity].astype(object)
    right = right.astype({"_e": object})
    right = right[right["_t"].notna()].sort_values("_t", kind="mergesort")
    joined = pd.merge_asof(left, right, on="_t", by="_e", direction="backward",
                           allow_exact_matches=True, tolerance=ttl)

    picked = joined.set_index("_pos")[value_columns].reindex(range(len(labels)))
    result = labels.copy()
    for column in value_columns:
        values = picked[column]
        if column in integer_columns and not values.hasnans:  # every label got a row: the column's own dtype
            values = values.astype(features[column].dtype)
        result[column] = values.array  # positions, not index labels: the index may repeat
    return result


def _times(column: pd.Series) -> pd.Series:
    """One unit (and UTC when aware), so both sides of the join compare as equals."""
    times = pd.to_datetime(column).dt.as_unit("ns")
    return times if times.dt.tz is None else times.dt.tz_convert("UTC")
