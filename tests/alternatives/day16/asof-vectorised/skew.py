"""Task 3: train/serve skew, an inner merge per entity and day 13's PSI."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import pandas as pd

EPSILON = 1e-4


def _is_number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_))


def _agree(a, b, tolerance: float) -> bool:
    missing_a, missing_b = pd.isna(a), pd.isna(b)
    if missing_a or missing_b:
        return bool(missing_a and missing_b)
    if a == b:
        return True
    if _is_number(a) and _is_number(b):
        return _exact_gap(a, b) <= tolerance
    return False


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
    offline, online = _python_numbers(offline), _python_numbers(online)
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    for frame in (offline, online):
        if frame[entity].duplicated().any():
            raise ValueError(f"an entity is repeated in a frame's {entity!r} column")
    features = [c for c in offline.columns if c != entity]
    for name in features:
        if name not in online.columns:
            raise KeyError(name)
    both = offline[[entity, *features]].astype({entity: object}).merge(
        online[[entity, *features]].astype({entity: object}), on=entity, how="inner",
        suffixes=("_off", "_on"))
    keys = both[entity].tolist()
    report = {}
    for name in features:
        pairs = zip(keys, both[f"{name}_off"].tolist(), both[f"{name}_on"].tolist())
        report[name] = sorted(key for key, a, b in pairs if not _agree(a, b, tolerance))
    return report


def _sample(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise KeyError(name)
    values = frame[name].to_numpy(dtype=float)
    if values.size == 0:
        raise ValueError(f"{name}: empty column")
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: NaN or infinite value")
    return values


def _proportions(values: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=bins)
    return np.maximum(counts / values.size, EPSILON)


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) \
            or bins < 2:
        raise ValueError("bins must be an integer, at least 2")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not math.isfinite(threshold) or threshold <= 0:
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        expected, actual = _sample(train, name), _sample(serving, name)
        edges = np.quantile(expected, [i / bins for i in range(1, bins)])
        p_train = _proportions(expected, edges, bins)
        p_serving = _proportions(actual, edges, bins)
        psi = float(np.sum((p_serving - p_train) * np.log(p_serving / p_train)))
        report[name] = (psi, bool(psi >= threshold))
    return report


def _exact_gap(a, b):
    """|a - b| computed exactly (Fraction): an int above 2**53 is not rounded against a float first."""
    from fractions import Fraction

    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)
    return abs(Fraction(a) - Fraction(b))
