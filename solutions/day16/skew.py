"""Train/serve skew: the same features, computed twice, that should agree and do not.

Offline (batch) and online (streaming) code paths compute "the same" feature in two
languages, on two schedules; they drift apart silently and the model degrades with no
error anywhere. Two checks catch it: the same entity's values compared across paths,
and each feature's distribution in serving compared with training (PSI).
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Sequence

import numpy as np
import pandas as pd


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    """For each feature of `offline`, the entities (sorted) whose two values disagree."""
    for frame, what in ((offline, "offline"), (online, "online")):
        if entity not in frame.columns:
            raise KeyError(f"{what} has no column {entity!r}")
        if frame[entity].duplicated().any():
            raise ValueError(f"{what} holds an entity more than once; compare one row per entity")
    names = [c for c in offline.columns if c != entity]
    for name in names:
        if name not in online.columns:
            raise KeyError(f"online has no feature {name!r}")
    # object keys: equal values match whatever each side's dtype (2 and 2.0), and text never matches numbers
    both = offline.astype({entity: object}).merge(
        online.astype({entity: object}), on=entity, suffixes=("_offline", "_online"))
    report = {}
    for name in names:
        pairs = zip(both[entity], both[f"{name}_offline"], both[f"{name}_online"])
        report[name] = sorted(e for e, a, b in pairs if not _agree(a, b, tolerance))
    return report


def _agree(a, b, tolerance: float) -> bool:
    a_missing, b_missing = pd.isna(a), pd.isna(b)
    if a_missing or b_missing:
        return bool(a_missing and b_missing)
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        # as Python numbers: np.float32(0.1) == 0.1 is True in float32, though one holds 0.100000001490116...
        a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
        if a == b:  # equal numbers agree, infinities too (inf - inf is NaN)
            return True
        if isinstance(a, int) and isinstance(b, int):
            return abs(a - b) <= tolerance  # exact: no float rounding, no unsigned wrap-around
        return _exact_difference(a, b) <= tolerance
    return a == b


def _exact_difference(a, b):
    """|a - b| without rounding: float() would turn the int 2**53 + 1 into 2.0**53, 0 away from 2.0**53."""
    if any(isinstance(v, float) and not math.isfinite(v) for v in (a, b)):
        return abs(a - b)  # an infinity against a finite number: inf, never within a tolerance
    return abs(Fraction(a) - Fraction(b))  # exact for ints and floats alike


def _psi(reference: Sequence[float], current: Sequence[float], bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population Stability Index over the reference's quantile bins (day 13's definition)."""
    ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = np.quantile(ref, np.arange(1, bins) / bins)

    def proportions(values: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=bins)
        return np.maximum(counts / values.size, epsilon)

    p_ref, p_cur = proportions(ref), proportions(cur)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    """For each feature: (PSI of serving against training, whether PSI >= threshold)."""
    if not isinstance(bins, numbers.Integral) or isinstance(bins, bool):
        raise TypeError(f"bins must be an integer, not {bins!r}")   # int(2.9) would quietly use 2
    if bins < 2:
        raise ValueError(f"bins must be at least 2, not {bins}")
    if not (isinstance(threshold, numbers.Real) and math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive number, not {threshold!r}")
    report = {}
    for name in features:
        samples = []
        for frame, what in ((train, "train"), (serving, "serving")):
            if name not in frame.columns:
                raise KeyError(f"{what} has no feature {name!r}")
            values = pd.to_numeric(frame[name], errors="raise").to_numpy(dtype=float)
            if values.size == 0 or not np.all(np.isfinite(values)):
                raise ValueError(f"{what}[{name!r}] is empty or holds NaN/inf; clean it before comparing")
            samples.append(values)
        value = _psi(samples[0], samples[1], bins)
        report[name] = (value, bool(value >= threshold))
    return report
