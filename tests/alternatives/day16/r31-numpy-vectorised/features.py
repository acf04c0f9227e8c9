"""Point-in-time join with integer entity codes, one stable lexsort and numpy.searchsorted per entity."""

from __future__ import annotations

import numpy as np
import pandas as pd

_NULLABLE = {"b": "boolean"}


def _utc_ns(column: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    tz = getattr(column.dtype, "tz", None)
    times = column
    if tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    times = times.dt.as_unit("ns")
    missing = times.isna().to_numpy()
    return times.to_numpy(dtype="datetime64[ns]").view("int64"), missing, tz is not None


def _with_gaps(source: pd.Series, take: np.ndarray):
    """The source values at positions `take`, -1 meaning 'no row': a missing value of a dtype that holds it."""
    dtype = source.dtype
    array = source.array
    if (take < 0).any():
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            array = pd.array(source.to_numpy(), dtype=f"{'U' if dtype.kind == 'u' else ''}Int{dtype.itemsize * 8}")
        elif isinstance(dtype, np.dtype) and dtype.kind == "b":
            array = pd.array(source.to_numpy(), dtype="boolean")
    return array.take(take, allow_fill=True)


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    missing = [c for c in (entity, label_time) if c not in labels.columns]
    missing += [c for c in (entity, feature_time) if c not in features.columns]
    if missing:
        raise KeyError(missing[0])
    lt, l_nat, l_aware = _utc_ns(labels[label_time])
    ft, f_nat, f_aware = _utc_ns(features[feature_time])
    if l_aware != f_aware:
        raise ValueError("one side's times are tz-aware and the other's naive")

    codes: dict = {}
    f_code = np.array([codes.setdefault(k, len(codes)) for k in features[entity].tolist()], dtype=np.int64)
    l_code = np.array([codes.get(k, -1) for k in labels[entity].tolist()], dtype=np.int64)

    keep = np.flatnonzero(~f_nat)
    order = keep[np.lexsort((keep, ft[keep], f_code[keep]))]  # by code, then time, then position
    s_code, s_time = f_code[order], ft[order]

    take = np.full(len(labels), -1, dtype=np.int64)
    usable = (~l_nat) & (l_code >= 0)
    for code in np.unique(l_code[usable]):
        lo, hi = np.searchsorted(s_code, code, side="left"), np.searchsorted(s_code, code, side="right")
        mine = np.flatnonzero(usable & (l_code == code))
        if lo == hi:
            continue
        k = lo + np.searchsorted(s_time[lo:hi], lt[mine], side="right") - 1
        found = k >= lo
        k = np.where(found, k, lo)
        if ttl is not None:
            found &= s_time[k] >= lt[mine] - pd.Timedelta(ttl).value
        take[mine[found]] = order[k[found]]

    result = labels.copy()
    for column in features.columns:
        if column in (entity, feature_time):
            continue
        result[column] = _with_gaps(features[column], take)
    return result
