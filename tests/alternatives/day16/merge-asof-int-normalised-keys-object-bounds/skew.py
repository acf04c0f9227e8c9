"""Train/serve skew: merge on the entity, then compare values one by one."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _agree(a, b, tolerance) -> bool:
    ma, mb = pd.isna(a), pd.isna(b)
    if ma or mb:
        return ma and mb
    if _is_number(a) and _is_number(b):
        # a NumPy float32 as the double it holds: compared as float32, np.float32(0.1) equals 0.1
        a, b = (float(v) if isinstance(v, np.floating) else v for v in (a, b))
        if a == b:
            return True
        if math.isinf(a) or math.isinf(b):
            return False
        # whole floats become ints so that an int64 above 2**53 is never rounded
        a, b = (int(v) if isinstance(v, float) and v.is_integer() else v for v in (a, b))
        if isinstance(a, int) and isinstance(b, int):
            return abs(a - b) <= tolerance
        return abs(float(a) - float(b)) <= tolerance
    if _is_number(a) or _is_number(b):
        return False
    if type(a) is not type(b) and (isinstance(a, str) or isinstance(b, str)):
        return False
    return bool(a == b)


def _keys(series: pd.Series) -> list:
    out = []
    for v in series.tolist():
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(v)
    return out


def feature_skew(offline: pd.DataFrame, online: pd.DataFrame, *, entity: str = "entity_id",
                 tolerance: float = 1e-6) -> dict[str, list]:
    for frame in (offline, online):
        if entity not in frame.columns:
            raise KeyError(entity)
    features = [c for c in offline.columns if c != entity]
    for c in features:
        if c not in online.columns:
            raise KeyError(c)
    ko, kn = _keys(offline[entity]), _keys(online[entity])
    if len(set(ko)) != len(ko) or len(set(kn)) != len(kn):
        raise ValueError("an entity is repeated")
    left = pd.DataFrame({"__k": pd.Series(ko, dtype=object)})
    right = pd.DataFrame({"__k": pd.Series(kn, dtype=object)})
    for c in features:
        left[("off", c)] = offline[c].to_numpy(dtype=object) if len(offline) else []
        right[("on", c)] = online[c].to_numpy(dtype=object) if len(online) else []
    both = left.merge(right, on="__k", how="inner")
    report = {}
    for c in features:
        bad = [k for k, a, b in zip(both["__k"], both[("off", c)], both[("on", c)])
               if not _agree(a, b, tolerance)]
        report[c] = sorted(bad)
    return report


def distribution_skew(train: pd.DataFrame, serving: pd.DataFrame, features: Sequence[str], *,
                      bins: int = 10, threshold: float = 0.1) -> dict[str, tuple[float, bool]]:
    if not (isinstance(bins, (int, np.integer)) and not isinstance(bins, bool) and bins >= 2):
        raise ValueError("bins must be an integer, at least 2")
    if not (isinstance(threshold, (int, float, np.integer, np.floating)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive finite number")
    report = {}
    for name in features:
        for frame in (train, serving):
            if name not in frame.columns:
                raise KeyError(name)
        t = train[name].to_numpy(dtype=float)
        s = serving[name].to_numpy(dtype=float)
        for arr in (t, s):
            if arr.size == 0 or not np.isfinite(arr).all():
                raise ValueError(f"{name}: empty or not finite")
        edges = np.quantile(t, [i / bins for i in range(1, bins)])
        pt_ = np.maximum(np.bincount(np.searchsorted(edges, t, side="left"), minlength=bins) / t.size, 1e-4)
        ps_ = np.maximum(np.bincount(np.searchsorted(edges, s, side="left"), minlength=bins) / s.size, 1e-4)
        psi = float(np.sum((ps_ - pt_) * np.log(ps_ / pt_)))
        report[name] = (psi, bool(psi >= threshold))
    return report
