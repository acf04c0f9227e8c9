"""Batch validation with quarantine: one boolean mask per rule."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as pt

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


def _type_ok(col: pd.Series, kind: str) -> bool:
    d = col.dtype
    if kind == "bool":
        return d != object and pt.is_bool_dtype(d)
    if d == object:
        if kind == "str":
            present = col[col.notna()]
            return all(isinstance(v, str) for v in present)
        return False
    if kind == "int":
        return pt.is_integer_dtype(d) and not pt.is_bool_dtype(d)
    if kind == "float":
        return pt.is_numeric_dtype(d) and not pt.is_bool_dtype(d)
    if kind == "str":
        return pt.is_string_dtype(d)
    return pt.is_datetime64_any_dtype(d)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _is_float(x) -> bool:
    return isinstance(x, numbers.Real) and not _is_int(x) and not isinstance(x, (bool, np.bool_))


def _below(col: pd.Series, bound) -> pd.Series:
    """col < bound, exactly."""
    col = _wide(col)
    d = col.dtype
    if _is_int(bound):
        bound = int(bound)
        if pt.is_float_dtype(d):
            f = float(bound)
            return col <= f if f < bound else col < f
    elif _is_float(bound) and pt.is_integer_dtype(d):
        bound = float(bound)
        if math.isinf(bound):
            return pd.Series(bound > 0, index=col.index)
        return col < math.ceil(bound)
    return col < bound


def _above(col: pd.Series, bound) -> pd.Series:
    col = _wide(col)
    d = col.dtype
    if _is_int(bound):
        bound = int(bound)
        if pt.is_float_dtype(d):
            f = float(bound)
            return col >= f if f > bound else col > f
    elif _is_float(bound) and pt.is_integer_dtype(d):
        bound = float(bound)
        if math.isinf(bound):
            return pd.Series(bound < 0, index=col.index)
        return col > math.floor(bound)
    return col > bound


def _mask(series) -> pd.Series:
    return pd.Series(series, dtype="boolean").fillna(False).astype(bool)


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch's index repeats a label")
    violations: list[Violation] = []
    bad = pd.Series(False, index=batch.index)
    reasons: dict = {}

    def report(name, check, mask, always=False):
        nonlocal bad
        mask = _mask(mask)
        rows = tuple(batch.index[mask.to_numpy()])
        if rows or always:
            violations.append(Violation(name, check, rows))
            for r in rows:
                reasons.setdefault(r, []).append(f"{name}:{check}")
            bad = bad | mask

    everyone = pd.Series(True, index=batch.index)
    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", everyone, always=True)
            continue
        col = batch[name]
        if not _type_ok(col, spec.dtype):
            report(name, "dtype", everyone, always=True)
            continue
        present = col.notna()
        if not spec.nullable:
            report(name, "null", ~present)
        values = col[present]
        if spec.min is not None:
            report(name, "min", _below(values, spec.min).reindex(batch.index, fill_value=False))
        if spec.max is not None:
            report(name, "max", _above(values, spec.max).reindex(batch.index, fill_value=False))
        if spec.allowed is not None:
            report(name, "allowed", (~values.isin(list(spec.allowed))).reindex(batch.index, fill_value=False))
        if spec.unique:
            report(name, "unique", values.duplicated(keep=False).reindex(batch.index, fill_value=False))
    bad_np = bad.to_numpy()
    return ValidationResult(violations, batch[~bad_np].copy(), batch[bad_np].copy(), reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
