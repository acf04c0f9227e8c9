"""Batch validation with quarantine: one boolean mask per rule, ORed together."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import numpy as np
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


CHECKS = {
    "bool": lambda s: ptypes.is_bool_dtype(s.dtype) and s.dtype != object,
    "int": lambda s: ptypes.is_integer_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype),
    "float": lambda s: ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype) and s.dtype != object,
    "datetime": lambda s: ptypes.is_datetime64_any_dtype(s.dtype),
    "str": lambda s: isinstance(s.dtype, pd.StringDtype)
    or (s.dtype == object and s.dropna().map(type).eq(str).all()),
}


def _bound(column: pd.Series, bound, rounding):
    """An integer column's bound made an exact integer (x > 2.5 is x > 2 for integers)."""
    if ptypes.is_integer_dtype(column.dtype) and isinstance(bound, float) and math.isfinite(bound):
        return int(rounding(bound))
    return bound


def _float_bound(column: pd.Series, bound, toward: float):
    """A float column's integer bound as the nearest float on the bound's safe side (numpy would round
    2**53 + 1 to 2**53): toward +inf for min, -inf for max."""
    if ptypes.is_float_dtype(column.dtype) and isinstance(bound, int) and not isinstance(bound, bool):
        near = float(bound)
        if (near < bound) if toward > 0 else (near > bound):
            near = math.nextafter(near, toward)
        return near
    return bound


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = sorted({spec.dtype for spec in schema.values()} - set(DTYPES), key=str)
    if unknown:
        raise ValueError(f"unknown dtypes in the schema: {unknown}")
    if not batch.index.is_unique:
        raise ValueError("a batch must not repeat an index label")

    masks: list[tuple[str, str, pd.Series, bool]] = []
    none = pd.Series(False, index=batch.index)
    for name, spec in schema.items():
        if name not in batch:
            masks.append((name, "missing", ~none, True))
            continue
        column = batch[name]
        if not CHECKS[spec.dtype](column):
            masks.append((name, "dtype", ~none, True))
            continue
        present = column.notna()
        if not spec.nullable:
            masks.append((name, "null", ~present, False))
        if spec.min is not None:
            below = _wide(column[present]) < _float_bound(column, _bound(column, spec.min, math.ceil), math.inf)
            masks.append((name, "min", below.reindex(batch.index, fill_value=False).astype(bool), False))
        if spec.max is not None:
            above = _wide(column[present]) > _float_bound(column, _bound(column, spec.max, math.floor), -math.inf)
            masks.append((name, "max", above.reindex(batch.index, fill_value=False).astype(bool), False))
        if spec.allowed is not None:
            masks.append((name, "allowed", present & ~column.isin(list(spec.allowed)), False))
        if spec.unique:
            masks.append((name, "unique", present & column.duplicated(keep=False), False))

    violations, reasons = [], {}
    bad = none.copy()
    for name, check, mask, always in masks:
        mask = mask.to_numpy(dtype=bool)
        if not (always or mask.any()):
            continue
        rows = tuple(batch.index[mask].tolist())
        violations.append(Violation(name, check, rows))
        for row in rows:
            reasons.setdefault(row, []).append(f"{name}:{check}")
        bad |= mask
    bad = bad.to_numpy(dtype=bool)
    return ValidationResult(violations, batch.loc[~bad], batch.loc[bad], reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
