"""Point-in-time join with pandas.merge_asof, wrapped in a small joiner class."""

from __future__ import annotations

import numpy as np
import pandas as pd

_TIME, _KEY, _POS = "__pit_time__", "__pit_key__", "__pit_pos__"


class _AsOfJoiner:
    def __init__(self, entity, label_time, feature_time, ttl):
        self.entity, self.label_time, self.feature_time, self.ttl = entity, label_time, feature_time, ttl

    @staticmethod
    def _utc_ns(column: pd.Series) -> pd.Series:
        times = pd.Series(column.array, copy=True)
        if times.dt.tz is not None:
            times = times.dt.tz_convert("UTC")
        return times.dt.as_unit("ns")

    @staticmethod
    def _exact(column: pd.Series):
        # numpy ints as an object column of Python ints: a label with no row then holds NaN beside
        # them instead of turning the column into float64 (which rounds values above 2**53)
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":
            return column.astype(object).array
        return column.array

    def check(self, labels, features):
        for frame, names in ((labels, (self.entity, self.label_time)), (features, (self.entity, self.feature_time))):
            missing = [n for n in names if n not in frame.columns]
            if missing:
                raise KeyError(missing[0])
        if (labels[self.label_time].dt.tz is None) != (features[self.feature_time].dt.tz is None):
            raise ValueError("tz-aware and naive timestamps cannot be compared")

    def __call__(self, labels, features):
        self.check(labels, features)
        value_columns = [c for c in features.columns if c not in (self.entity, self.feature_time)]
        left = pd.DataFrame({_TIME: self._utc_ns(labels[self.label_time]),
                             _KEY: pd.Series(labels[self.entity].array, dtype=object),
                             _POS: range(len(labels))})
        left = left[left[_TIME].notna()].sort_values(_TIME, kind="mergesort")
        right = pd.DataFrame({f"v{i}": self._exact(features[c]) for i, c in enumerate(value_columns)})
        right[_TIME] = self._utc_ns(features[self.feature_time]).array
        right[_KEY] = pd.Series(features[self.entity].to_numpy(dtype=object), dtype=object, index=right.index)
        right = right[right[_TIME].notna()].sort_values(_TIME, kind="mergesort")
        joined = pd.merge_asof(left, right, on=_TIME, by=_KEY, direction="backward",
                               allow_exact_matches=True, tolerance=self.ttl)
        picked = joined.set_index(_POS).reindex(range(len(labels)))
        result = labels.copy()
        for i, c in enumerate(value_columns):
            result[c] = picked[f"v{i}"].array
        return result


def point_in_time_join(labels, features, *, entity="entity_id", label_time="event_timestamp",
                       feature_time="feature_timestamp", ttl=None):
    return _AsOfJoiner(entity, label_time, feature_time, ttl)(labels, features)
