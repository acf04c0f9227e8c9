"""Batch validation with one boolean mask per rule."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import pandas as pd
from pandas.api import types as ptypes

DTYPES = ("int", "float", "str", "bool", "datetime")


@dataclass(frozen=True)
class Column:
    dtype: str
    nullable: bool = False
    min: Any = None
    max: Any = None
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


def _has_type(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    if kind == "bool":
        return ptypes.is_bool_dtype(dtype)
    if ptypes.is_bool_dtype(dtype):
        return False
    if kind == "int":
        return ptypes.is_integer_dtype(dtype)
    if kind == "float":
        return ptypes.is_numeric_dtype(dtype)
    if kind == "datetime":
        return ptypes.is_datetime64_any_dtype(dtype)
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) for v in col[col.notna()].tolist())
    return False


def _mask(values) -> pd.Series:
    return pd.Series(values, dtype="boolean").fillna(False).astype(bool)


def _exact_bound(col, bound, rounding):
    """An integer column's float bound as the integer giving the same answer (numpy compares in float64)."""
    if (pd.api.types.is_integer_dtype(col.dtype) and isinstance(bound, numbers.Real)
            and not isinstance(bound, numbers.Integral) and math.isfinite(bound)):
        return rounding(bound)
    if (pd.api.types.is_float_dtype(col.dtype) and isinstance(bound, numbers.Integral)
            and not isinstance(bound, bool)):
        return _nearest_float(int(bound), rounding)
    return bound


def _nearest_float(bound: int, rounding) -> float:
    """A float column's integer bound as the float giving the same answer: numpy would round it to the
    nearest float (2**53 + 1 becomes 2**53); min takes the float at or above it, max the one at or below."""
    near = float(bound)
    if rounding is math.ceil and near < bound:
        return math.nextafter(near, math.inf)
    if rounding is math.floor and near > bound:
        return math.nextafter(near, -math.inf)
    return near


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch's index repeats a label")

    positions = pd.RangeIndex(len(batch))
    every = pd.Series(True, index=positions)
    violations: list[Violation] = []
    bad = pd.Series(False, index=positions)
    reasons: dict = {}

    def report(name, check, mask, always=False):
        nonlocal bad
        mask = pd.Series(mask.to_numpy(dtype=bool), index=positions)
        if not mask.any() and not always:
            return
        rows = batch.index[mask.to_numpy()].tolist()
        violations.append(Violation(name, check, tuple(rows)))
        for row in rows:
            reasons.setdefault(row, []).append(f"{name}:{check}")
        bad = bad | mask

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", every, always=True)
            continue
        col = batch[name].reset_index(drop=True)
        if not _has_type(col, spec.dtype):
            report(name, "dtype", every, always=True)
            continue
        present = col.notna()
        if not spec.nullable:
            report(name, "null", ~present)
        if spec.min is not None:
            report(name, "min", present & _mask(_wide(col) < _exact_bound(col, spec.min, math.ceil)))
        if spec.max is not None:
            report(name, "max", present & _mask(_wide(col) > _exact_bound(col, spec.max, math.floor)))
        if spec.allowed is not None:
            report(name, "allowed", present & ~_mask(col.isin(list(spec.allowed))))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False))

    flags = bad.to_numpy()
    return ValidationResult(violations, batch[~flags].copy(), batch[flags].copy(), reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
