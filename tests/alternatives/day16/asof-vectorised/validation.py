"""Task 2: batch validation with quarantine, one boolean mask per rule."""

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


def _has_type(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    is_bool = ptypes.is_bool_dtype(dtype)
    if kind == "bool":
        return is_bool
    if kind == "int":
        return ptypes.is_integer_dtype(dtype) and not is_bool
    if kind == "float":
        return ptypes.is_numeric_dtype(dtype) and not is_bool
    if kind == "datetime":
        return ptypes.is_datetime64_any_dtype(dtype)
    # "str"
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        present = col[col.notna()]
        return all(isinstance(v, str) for v in present)
    return False


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
            raise ValueError(f"{name}: unknown dtype {spec.dtype!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch's index repeats a label")

    all_rows = pd.Series(True, index=batch.index)
    checks: list[tuple[str, str, pd.Series, bool]] = []  # name, check, mask, report even if empty
    for name, spec in schema.items():
        if name not in batch.columns:
            checks.append((name, "missing", all_rows, True))
            continue
        col = batch[name]
        if not _has_type(col, spec.dtype):
            checks.append((name, "dtype", all_rows, True))
            continue
        present = col.notna()
        if not spec.nullable:
            checks.append((name, "null", ~present, False))
        values = col[present]
        if spec.min is not None:
            checks.append((name, "min", (_wide(values) < _exact_bound(values, spec.min, math.ceil)).reindex(batch.index, fill_value=False), False))
        if spec.max is not None:
            checks.append((name, "max", (_wide(values) > _exact_bound(values, spec.max, math.floor)).reindex(batch.index, fill_value=False), False))
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            checks.append((name, "allowed", (~values.isin(allowed)).reindex(batch.index, fill_value=False), False))
        if spec.unique:
            checks.append((name, "unique", values.duplicated(keep=False).reindex(batch.index, fill_value=False),
                           False))

    violations: list[Violation] = []
    reasons: dict = {}
    bad = pd.Series(False, index=batch.index)
    for name, check, mask, always in checks:
        mask = mask.astype(bool)
        rows = tuple(batch.index[mask.to_numpy()])
        if not rows and not always:
            continue
        violations.append(Violation(name, check, rows))
        bad |= mask
        for row in rows:
            reasons.setdefault(row, []).append(f"{name}:{check}")
    flags = bad.to_numpy()
    return ValidationResult(violations, batch[~flags].copy(), batch[flags].copy(), reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
