"""Train/serve skew: per-entity comparison and PSI."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd

EPSILON = 1e-4


def _agree(a, b, tolerance: float) -> bool:
    a_missing, b_missing = pd.isna(a), pd.isna(b)
    if a_missing or b_missing:
        return bool(a_missing and b_missing)
    is_num = lambda v: isinstance(v, numbers.Number) and not isinstance(v, bool)
    if is_num(a) and is_num(b):
        if a == b:
            return True
        # a whole float next to an int is compared as an int: int - float would round the int
        a, b = (int(v) if isinstance(v, float) and v.is_integer() else v for v in (a, b))
        return abs(a - b) <= tolerance
    return bool(a == b)


def _python_numbers(frame):
    """A copy whose object columns hold Python numbers, not numpy scalars (np.uint32(5) - np.uint32(7) wraps)."""
    import numpy
    import pandas

    plain = {}
    for column in frame.columns:
        values = frame[column].tolist() if frame[column].dtype == object else ()
        if any(isinstance(v, numpy.number) for v in values):
            plain[column] = pandas.Series([v.item() if isinstance(v, numpy.number) else v for v in values],
                                          index=frame.index, dtype=object)
    if not plain:
        return frame  # nothing to convert: the caller's own frame, read only
    out = frame.copy()
    for column, series in plain.items():
        out[column] = series
    return out


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    offline, online = _python_numbers(offline), _python_numbers(online)
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    feature_names = [c for c in offline.columns if c != entity]
    for c in feature_names:
        if c not in online.columns:
            raise KeyError(c)
    off = offline[[entity] + feature_names].copy()
    on = online[[entity] + feature_names].copy()
    off[entity] = off[entity].astype(object)
    on[entity] = on[entity].astype(object)
    for frame in (off, on):
        if frame[entity].duplicated().any():
            raise ValueError(f"an entity is repeated in the {entity!r} column")
    both = off.merge(on, on=entity, how="inner", suffixes=("__off", "__on"))
    keys = both[entity].tolist()
    report = {}
    for c in feature_names:
        a_values = both[f"{c}__off"].astype(object).tolist()
        b_values = both[f"{c}__on"].astype(object).tolist()
        report[c] = sorted(k for k, a, b in zip(keys, a_values, b_values) if not _agree(a, b, tolerance))
    return report


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
        raise ValueError("bins must be an integer, at least 2")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not math.isfinite(threshold) or threshold <= 0:
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        columns = []
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            if values.size == 0 or not np.isfinite(values).all():
                raise ValueError(f"feature {name!r} is empty or holds NaN/inf")
            columns.append(values)
        train_values, serving_values = columns
        edges = np.quantile(train_values, [i / bins for i in range(1, bins)])
        def proportions(values):
            counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=bins)
            return np.maximum(counts / values.size, EPSILON)
        pt, ps = proportions(train_values), proportions(serving_values)
        psi = float(np.sum((ps - pt) * np.log(ps / pt)))
        report[name] = (psi, bool(psi >= threshold))
    return report
