"""Batch validation with boolean masks, one per rule."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
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


def _has_type(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    if kind == "bool":
        return _is_bool(dtype)
    if kind == "int":
        return pdt.is_integer_dtype(dtype) and not _is_bool(dtype)
    if kind == "float":
        return pdt.is_numeric_dtype(dtype) and not _is_bool(dtype) and not pdt.is_bool_dtype(dtype)
    if kind == "datetime":
        return pdt.is_datetime64_any_dtype(dtype)
    if dtype == np.dtype(object):
        return all(isinstance(v, str) for v in col[col.notna()].tolist())
    return isinstance(dtype, pd.StringDtype)


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
            raise ValueError(f"unknown dtype {spec.dtype!r} for column {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch's index repeats a label")
    violations: list[Violation] = []
    reasons: dict = {}
    bad = pd.Series(False, index=batch.index)

    def report(name, check, mask, always=False):
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy(dtype=bool)])
        if rows or always:
            violations.append(Violation(name, check, rows))
            for row in rows:
                reasons.setdefault(row, []).append(f"{name}:{check}")
            bad = bad | mask

    every = pd.Series(True, index=batch.index)
    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", every, always=True)
            continue
        col = batch[name]
        if not _has_type(col, spec.dtype):
            report(name, "dtype", every, always=True)
            continue
        present = col.notna()
        if not spec.nullable:
            report(name, "null", ~present)
        values = col[present]

        def on_present(flags):
            mask = pd.Series(False, index=batch.index)
            mask[present.to_numpy()] = np.asarray(flags, dtype=bool)
            return mask

        if spec.min is not None:
            report(name, "min", on_present(_wide(values) < _exact_bound(values, spec.min, math.ceil)))
        if spec.max is not None:
            report(name, "max", on_present(_wide(values) > _exact_bound(values, spec.max, math.floor)))
        if spec.allowed is not None:
            report(name, "allowed", on_present(~values.isin(list(spec.allowed))))
        if spec.unique:
            report(name, "unique", on_present(values.duplicated(keep=False)))
    return ValidationResult(violations, batch[~bad], batch[bad], reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
