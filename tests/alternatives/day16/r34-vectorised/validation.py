"""Batch validation, vectorised: one boolean mask per rule."""

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


def _type_ok(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    if kind == "bool":
        return pt.is_bool_dtype(dtype) and not pt.is_object_dtype(dtype)
    if kind == "int":
        return pt.is_integer_dtype(dtype) and not pt.is_bool_dtype(dtype)
    if kind == "float":
        return pt.is_numeric_dtype(dtype) and not pt.is_bool_dtype(dtype) and not pt.is_object_dtype(dtype)
    if kind == "datetime":
        return pt.is_datetime64_any_dtype(dtype)
    if kind == "str":
        if pt.is_object_dtype(dtype):
            return all(isinstance(v, str) for v in col[col.notna()])
        return pt.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    raise AssertionError(kind)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _beyond(col: pd.Series, bound, side: str) -> pd.Series:
    """Mask of values below (side='min') or above (side='max') the bound, exactly."""
    less = side == "min"
    if isinstance(bound, (float, np.floating)) and math.isinf(bound):
        everything = (bound > 0) if less else (bound < 0)
        return pd.Series(everything, index=col.index)
    if pt.is_integer_dtype(col.dtype):
        b = int(bound) if _is_int(bound) else (math.ceil(bound) if less else math.floor(bound))
        out = col < b if less else col > b
    elif pt.is_float_dtype(col.dtype):
        wide = col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
        if _is_int(bound):
            b, f = int(bound), float(bound)
            if f == b:
                out = wide < f if less else wide > f
            elif less:
                out = wide < f if f > b else wide <= f
            else:
                out = wide > f if f < b else wide >= f
        else:
            out = wide < float(bound) if less else wide > float(bound)
    else:
        out = col < bound if less else col > bound
    if isinstance(out.dtype, pd.api.extensions.ExtensionDtype):
        out = out.fillna(False).astype(bool)
    return out


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    for spec in schema.values():
        if spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch's index repeats a label")
    index = batch.index
    violations, masks = [], []
    bad = pd.Series(False, index=index)
    reasons: dict = {}

    def report(name, check, mask, always=False):
        rows = tuple(index[mask.to_numpy(dtype=bool)])
        if rows or always:
            violations.append(Violation(name, check, rows))
            masks.append((f"{name}:{check}", mask))

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", pd.Series(True, index=index), always=True)
            continue
        col = batch[name]
        if not _type_ok(col, spec.dtype):
            report(name, "dtype", pd.Series(True, index=index), always=True)
            continue
        present = col.notna()
        if not spec.nullable:
            report(name, "null", ~present)
        if spec.min is not None:
            report(name, "min", present & _beyond(col, spec.min, "min"))
        if spec.max is not None:
            report(name, "max", present & _beyond(col, spec.max, "max"))
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            report(name, "allowed", present & ~col.isin(allowed))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False))

    for reason, mask in masks:
        bad |= mask
        for row in index[mask.to_numpy(dtype=bool)]:
            reasons.setdefault(row, []).append(reason)
    keep = ~bad.to_numpy()
    return ValidationResult(violations, batch[keep].copy(), batch[~keep].copy(), reasons)
