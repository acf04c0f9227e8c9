"""Validate a batch against a declared schema, and quarantine the rows that fail.

A pipeline that drops bad rows silently trains on a biased sample and nobody knows; one
that fails the whole batch for one bad row stops the business. Quarantine is the middle
way: good rows go on, bad rows are set aside with their reasons, and the counts add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd
from pandas.api import types

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


def _dtype_ok(column: pd.Series, dtype: str) -> bool:
    if dtype == "bool":
        return types.is_bool_dtype(column)
    if dtype == "int":
        return types.is_integer_dtype(column) and not types.is_bool_dtype(column)
    if dtype == "float":
        return types.is_numeric_dtype(column) and not types.is_bool_dtype(column)
    if dtype == "datetime":
        return types.is_datetime64_any_dtype(column)
    if types.is_string_dtype(column) and not types.is_object_dtype(column):
        return True
    return types.is_object_dtype(column) and all(isinstance(v, str) for v in column.dropna())


def _checks(column: pd.Series, spec: Column) -> list[tuple[str, pd.Series]]:
    """(check, mask of offending rows) for every value rule of the column."""
    present = column.notna()
    found = [("null", ~present if not spec.nullable else pd.Series(False, index=column.index))]
    if spec.min is not None:
        found.append(("min", present & (column < spec.min)))
    if spec.max is not None:
        found.append(("max", present & (column > spec.max)))
    if spec.allowed is not None:
        found.append(("allowed", present & ~column.isin(list(spec.allowed))))
    if spec.unique:
        found.append(("unique", present & column.duplicated(keep=False)))
    return found


def _exact_bounds(column: pd.Series, spec: Column) -> Column:
    """An integer column's float bounds as the integers that give the same answers.

    numpy compares int64 values with a float in float64, which rounds them above 2**53
    (10**18 + 1 would equal 1e18); for integers, x < 2.5 is x < 3 and x > 2.5 is x > 2.
    """
    if not types.is_integer_dtype(column):
        return _float_bounds(column, spec)
    exact = {}
    for bound, rounding in (("min", math.ceil), ("max", math.floor)):
        value = getattr(spec, bound)
        if isinstance(value, (float, np.floating)) and math.isfinite(value):
            exact[bound] = rounding(value)
    return replace(spec, **exact)


def _float_bounds(column: pd.Series, spec: Column) -> Column:
    """A float column's integer bounds as the floats that give the same answers.

    numpy compares float64 values with an int in float64, which rounds an integer bound above
    2**53 (min=2**53 + 1 would become 2**53, letting 2.0**53 through): min becomes the smallest
    float at or above the integer, max the largest float at or below it.
    """
    if not types.is_float_dtype(column):
        return spec
    width = np.dtype(getattr(column.dtype, "numpy_dtype", column.dtype))  # float32 for float32 and "Float32"
    exact = {}
    for bound, toward in (("min", math.inf), ("max", -math.inf)):
        value = getattr(spec, bound)
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            value = int(value)
            near = float(value)
            if (near < value) if toward > 0 else (near > value):
                near = math.nextafter(near, toward)
            exact[bound] = value = near
        if width.itemsize < 8 and isinstance(value, (float, np.floating)):
            # numpy compares a float32 column with a float bound in float32, rounding the bound onto a value
            # (np.float32(0.1), 0.100000001..., would pass max=0.1): take the float32 on the bound's safe side
            near = width.type(value)
            if (float(near) < value) if toward > 0 else (float(near) > value):
                near = np.nextafter(near, width.type(toward))
            exact[bound] = near
    return replace(spec, **exact)


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"column {name!r}: dtype must be one of {DTYPES}, not {spec.dtype!r}")
    if not batch.index.is_unique:
        raise ValueError("the batch's index must be unique, so each quarantined row can be named")
    violations: list[Violation] = []
    bad = pd.Series(False, index=batch.index)
    reasons: dict = {}

    def report(name: str, check: str, mask: pd.Series) -> None:
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy(dtype=bool)])
        if rows or check in ("missing", "dtype"):
            violations.append(Violation(name, check, rows))
        for row in rows:
            reasons.setdefault(row, []).append(f"{name}:{check}")
        bad = bad | mask

    everything = pd.Series(True, index=batch.index)
    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", everything)
        elif not _dtype_ok(batch[name], spec.dtype):
            report(name, "dtype", everything)
        else:
            for check, mask in _checks(batch[name], _exact_bounds(batch[name], spec)):
                report(name, check, mask.fillna(False).astype(bool))
    return ValidationResult(violations, batch[~bad].copy(), batch[bad].copy(), reasons)
