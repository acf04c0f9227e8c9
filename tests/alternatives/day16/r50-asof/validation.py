"""Task 2: validate a batch against a declared schema (vectorised masks)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as pdt

DTYPES = ("int", "float", "str", "bool", "datetime")


@dataclass(frozen=True)
class Column:
    dtype: str
    nullable: bool = False
    min: Any = None  # inclusive
    max: Any = None  # inclusive
    allowed: Collection | None = None
    unique: bool = False


@dataclass(frozen=True)
class Violation:
    column: str
    check: str
    rows: tuple


@dataclass
class ValidationResult:
    violations: list[Violation]
    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    reasons: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def _is_bool(dtype) -> bool:
    return dtype == np.dtype(bool) or isinstance(dtype, pd.BooleanDtype)


def _is_int(dtype) -> bool:
    return not _is_bool(dtype) and pdt.is_integer_dtype(dtype)


def _is_float_ok(dtype) -> bool:
    if _is_bool(dtype) or dtype == np.dtype(object):
        return False
    return pdt.is_integer_dtype(dtype) or pdt.is_float_dtype(dtype)


def _type_ok(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    if kind == "int":
        return _is_int(dtype)
    if kind == "float":
        return _is_float_ok(dtype)
    if kind == "bool":
        return _is_bool(dtype)
    if kind == "datetime":
        return pdt.is_datetime64_any_dtype(dtype)
    # str
    if dtype == np.dtype(object):
        present = col[col.notna()]
        return all(isinstance(v, str) for v in present)
    return isinstance(dtype, pd.StringDtype)


def _plain(bound):
    if isinstance(bound, np.generic):
        return bound.item()
    return bound


def _int_values(col: pd.Series) -> tuple[np.ndarray, np.iinfo]:
    dtype = col.dtype.numpy_dtype if hasattr(col.dtype, "numpy_dtype") else col.dtype
    return col.to_numpy(dtype=dtype, na_value=0), np.iinfo(dtype)


def _int_below(col: pd.Series, bound) -> np.ndarray:
    """value < bound for an integer column, exactly."""
    values, info = _int_values(col)
    if isinstance(bound, float):
        if math.isinf(bound):
            return np.full(len(values), bound > 0)
        bound = math.ceil(bound)
    if bound > info.max:
        return np.ones(len(values), dtype=bool)
    if bound <= info.min:
        return np.zeros(len(values), dtype=bool)
    return values < values.dtype.type(bound)


def _int_above(col: pd.Series, bound) -> np.ndarray:
    values, info = _int_values(col)
    if isinstance(bound, float):
        if math.isinf(bound):
            return np.full(len(values), bound < 0)
        bound = math.floor(bound)
    if bound < info.min:
        return np.ones(len(values), dtype=bool)
    if bound >= info.max:
        return np.zeros(len(values), dtype=bool)
    return values > values.dtype.type(bound)


def _float_values(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)  # float32 -> float64 is exact


def _float_bound(bound) -> tuple[float, int]:
    """The float nearest the bound, and the sign of (that float - bound)."""
    if isinstance(bound, float):
        return bound, 0
    try:
        f = float(bound)
    except OverflowError:
        f = math.inf if bound > 0 else -math.inf
    if math.isinf(f):
        return f, 1 if f > 0 else -1
    diff = Fraction(f) - Fraction(bound)
    return f, (diff > 0) - (diff < 0)


def _float_below(col: pd.Series, bound) -> np.ndarray:
    values = _float_values(col)
    f, sign = _float_bound(bound)
    with np.errstate(invalid="ignore"):
        return values <= f if sign < 0 else values < f


def _float_above(col: pd.Series, bound) -> np.ndarray:
    values = _float_values(col)
    f, sign = _float_bound(bound)
    with np.errstate(invalid="ignore"):
        return values >= f if sign > 0 else values > f


def _generic(col: pd.Series, present: pd.Series, op) -> np.ndarray:
    out = np.zeros(len(col), dtype=bool)
    idx = np.flatnonzero(present.to_numpy())
    if len(idx):
        out[idx] = np.asarray(op(col.iloc[idx]), dtype=bool)
    return out


def _below(col, present, bound) -> np.ndarray:
    bound = _plain(bound)
    if _is_int(col.dtype) and isinstance(bound, numbers.Real):
        return _int_below(col, bound)
    if _is_float_ok(col.dtype) and isinstance(bound, numbers.Real):
        return _float_below(col, bound)
    return _generic(col, present, lambda s: s < bound)


def _above(col, present, bound) -> np.ndarray:
    bound = _plain(bound)
    if _is_int(col.dtype) and isinstance(bound, numbers.Real):
        return _int_above(col, bound)
    if _is_float_ok(col.dtype) and isinstance(bound, numbers.Real):
        return _float_above(col, bound)
    return _generic(col, present, lambda s: s > bound)


def _not_allowed(col, present, allowed) -> np.ndarray:
    options = [_plain(a) for a in allowed]

    def check(s):
        return [not any(_same(v, a) for a in options) for v in s.astype(object).tolist()]

    return _generic(col, present, check)


def _same(v, a) -> bool:
    if isinstance(v, np.generic):
        v = v.item()
    try:
        return bool(v == a)
    except (TypeError, ValueError):
        return False


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for column {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch index repeats a label")

    n = len(batch)
    bad = np.zeros(n, dtype=bool)
    violations: list[Violation] = []
    reasons: dict = {}
    labels = batch.index

    def report(name, check, mask, always=False):
        nonlocal bad
        mask = np.asarray(mask, dtype=bool)
        if not mask.any() and not always:
            return
        rows = tuple(labels[mask].tolist())
        violations.append(Violation(name, check, rows))
        bad = bad | mask
        for row in rows:
            reasons.setdefault(row, []).append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", np.ones(n, dtype=bool), always=True)
            continue
        col = batch[name]
        if not _type_ok(col, spec.dtype):
            report(name, "dtype", np.ones(n, dtype=bool), always=True)
            continue
        present = col.notna()
        p = present.to_numpy()
        if not spec.nullable:
            report(name, "null", ~p)
        if spec.min is not None:
            report(name, "min", p & _below(col, present, spec.min))
        if spec.max is not None:
            report(name, "max", p & _above(col, present, spec.max))
        if spec.allowed is not None:
            report(name, "allowed", p & _not_allowed(col, present, spec.allowed))
        if spec.unique:
            report(name, "unique", p & col.duplicated(keep=False).to_numpy())

    accepted = batch.iloc[np.flatnonzero(~bad)].copy()
    quarantined = batch.iloc[np.flatnonzero(bad)].copy()
    return ValidationResult(violations, accepted, quarantined, reasons)
