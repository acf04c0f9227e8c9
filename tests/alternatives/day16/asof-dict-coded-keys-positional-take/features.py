"""Point-in-time join built on pandas.merge_asof."""

from __future__ import annotations

import pandas as pd


def _utc_ns(times: pd.Series) -> pd.Series:
    times = pd.Series(times.array, copy=True)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC")
    return times.dt.as_unit("ns")


def _codes(label_keys: list, feature_keys: list) -> tuple[list, list]:
    table: dict = {}
    left = [table.setdefault(k, len(table)) for k in label_keys]
    right = [table.setdefault(k, len(table)) for k in feature_keys]
    return left, right


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    for frame, column in ((labels, entity), (labels, label_time), (features, entity), (features, feature_time)):
        if column not in frame.columns:
            raise KeyError(column)
    lt, ft = labels[label_time], features[feature_time]
    if not pd.api.types.is_datetime64_any_dtype(lt):
        lt = pd.to_datetime(lt)
    if not pd.api.types.is_datetime64_any_dtype(ft):
        ft = pd.to_datetime(ft)
    if isinstance(lt.dtype, pd.DatetimeTZDtype) != isinstance(ft.dtype, pd.DatetimeTZDtype):
        raise ValueError("tz-aware and naive timestamps cannot be compared")
    lt, ft = _utc_ns(lt), _utc_ns(ft)
    lk, fk = _codes(labels[entity].tolist(), features[entity].tolist())
    left = pd.DataFrame({"t": lt.to_numpy(), "k": lk, "p": range(len(labels))})
    right = pd.DataFrame({"t": ft.to_numpy(), "k": fk, "row": range(len(features))})
    if len(left):
        left["t"] = lt.array
    if len(right):
        right["t"] = ft.array
    left = left[left["t"].notna()].sort_values("t", kind="mergesort")
    right = right[right["t"].notna()].sort_values("t", kind="mergesort")
    right["k"] = right["k"].astype("int64")
    left["k"] = left["k"].astype("int64")
    picked = [-1] * len(labels)
    if len(left) and len(right):
        joined = pd.merge_asof(left, right, on="t", by="k", direction="backward",
                               allow_exact_matches=True, tolerance=ttl)
        for p, row in zip(joined["p"].tolist(), joined["row"].tolist()):
            if row == row:  # not NaN
                picked[p] = int(row)
    value_columns = [c for c in features.columns if c not in (entity, feature_time)]
    result = labels.copy()
    for column in value_columns:
        values = features[column].array
        if isinstance(values, pd.arrays.NumpyExtensionArray) and values.dtype.kind in "iu":
            values = pd.array(values.to_numpy())  # Int64/UInt64: filling -1 with <NA>, not a float64 that rounds
        result[column] = pd.api.extensions.take(values, picked, allow_fill=True)
    return result
