"""Point-in-time join built on pandas.merge_asof."""

from __future__ import annotations

import numpy as np
import pandas as pd

_TIME = "__pit_time__"
_KEY = "__pit_key__"
_POS = "__pit_pos__"


def _as_datetimes(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column
    return pd.to_datetime(column)


def _nullable(dtype):
    """numpy ints as pandas' nullable ints of the same width and sign (int64 -> Int64, uint64 -> UInt64):
    a label with no row holds <NA>, where float64 would round values above 2**53."""
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pd.api.types.pandas_dtype(("U" if dtype.kind == "u" else "") + "Int" + dtype.name.split("int")[1])
    return dtype


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

    lt = _as_datetimes(labels[label_time])
    ft = _as_datetimes(features[feature_time])
    l_tz, f_tz = lt.dt.tz, ft.dt.tz
    if (l_tz is None) != (f_tz is None):
        raise ValueError("cannot compare tz-aware and naive timestamps")
    if l_tz is not None:
        lt = lt.dt.tz_convert("UTC")
        ft = ft.dt.tz_convert("UTC")
    lt = lt.dt.as_unit("ns")
    ft = ft.dt.as_unit("ns")

    value_columns = [c for c in features.columns if c not in (entity, feature_time)]

    # one integer code per entity value, shared by both sides (7, 7.0 and int32 7 are one key)
    keys = pd.concat([labels[entity].astype(object), features[entity].astype(object)], ignore_index=True)
    codes, _ = pd.factorize(keys)
    l_codes, f_codes = codes[: len(labels)], codes[len(labels):]

    n = len(labels)
    left = pd.DataFrame({_TIME: lt.array, _KEY: l_codes, _POS: np.arange(n)})
    left = left[left[_TIME].notna() & (left[_KEY] >= 0)]
    left = left.sort_values(_TIME, kind="mergesort")

    right = pd.DataFrame({f"v{i}": features[c].to_numpy() for i, c in enumerate(value_columns)})
    right = right.astype({f"v{i}": _nullable(features[c].dtype) for i, c in enumerate(value_columns)})
    right[_TIME] = ft.array
    right[_KEY] = f_codes
    right = right[right[_TIME].notna() & (right[_KEY] >= 0)]
    right = right.sort_values(_TIME, kind="mergesort")

    tolerance = None if ttl is None else pd.Timedelta(ttl)
    joined = pd.merge_asof(left, right, on=_TIME, by=_KEY, direction="backward",
                           allow_exact_matches=True, tolerance=tolerance)
    picked = joined.set_index(_POS).reindex(np.arange(n))

    result = labels.copy()
    for i, c in enumerate(value_columns):
        result[c] = picked[f"v{i}"].array
    return result
