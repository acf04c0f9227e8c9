"""Batch validation with boolean masks."""

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


def _type_ok(col: pd.Series, dtype: str) -> bool:
    d = col.dtype
    if dtype == "bool":
        return ptypes.is_bool_dtype(d)
    if ptypes.is_bool_dtype(d):
        return False
    if dtype == "int":
        return ptypes.is_integer_dtype(d)
    if dtype == "float":
        return ptypes.is_numeric_dtype(d)
    if dtype == "datetime":
        return ptypes.is_datetime64_any_dtype(d)
    if dtype == "str":
        if isinstance(d, pd.StringDtype):
            return True
        if d == object:
            return all(isinstance(v, str) for v in col.dropna())
        return False
    raise ValueError(dtype)


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
        raise ValueError("the batch index repeats a label")
    violations: list[Violation] = []
    bad = pd.Series(False, index=batch.index)
    reasons: dict = {}

    def report(name, check, mask, always=False):
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy()])
        if rows or always:
            violations.append(Violation(name, check, rows))
            bad = bad | mask
            for r in rows:
                reasons.setdefault(r, []).append(f"{name}:{check}")

    everything = pd.Series(True, index=batch.index)
    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", everything, always=True)
            continue
        col = batch[name]
        if not _type_ok(col, spec.dtype):
            report(name, "dtype", everything, always=True)
            continue
        present = col.notna().astype(bool)
        if not spec.nullable:
            report(name, "null", ~present)
        if spec.min is not None:
            report(name, "min", present & (_wide(col) < _exact_bound(col, spec.min, math.ceil)).fillna(False).astype(bool))
        if spec.max is not None:
            report(name, "max", present & (_wide(col) > _exact_bound(col, spec.max, math.floor)).fillna(False).astype(bool))
        if spec.allowed is not None:
            report(name, "allowed", present & ~col.isin(list(spec.allowed)).astype(bool))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False) & present)
    return ValidationResult(violations, batch[~bad.to_numpy()].copy(), batch[bad.to_numpy()].copy(), reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
