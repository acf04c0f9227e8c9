"""Task 2: validation with boolean masks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

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
    dt = col.dtype
    if kind == "bool":
        return pt.is_bool_dtype(dt) and dt != object
    if pt.is_bool_dtype(dt):
        return False
    if kind == "int":
        return pt.is_integer_dtype(dt)
    if kind == "float":
        return pt.is_numeric_dtype(dt)
    if kind == "datetime":
        return pt.is_datetime64_any_dtype(dt)
    if kind == "str":
        if dt == object:
            return all(isinstance(v, str) for v in col[col.notna()])
        return pt.is_string_dtype(dt)
    return False


def _cmp(col: pd.Series, present: pd.Series, bound, op) -> pd.Series:
    out = pd.Series(False, index=col.index)
    if pt.is_integer_dtype(col.dtype) and isinstance(bound, (int, float)):  # Python compares int with float exactly
        vals = col[present].astype(object)
        out[present] = [op(int(v), bound) for v in vals]
        return out
    if pt.is_float_dtype(col.dtype) and isinstance(bound, int) and not isinstance(bound, bool):
        out[present] = [op(float(v), bound) for v in col[present].astype(object)]  # numpy would round the int bound
        return out
    out[present] = op(_wide(col[present]), bound).to_numpy(dtype=bool)
    return out


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
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
        rows = tuple(batch.index[mask.to_numpy(dtype=bool)])
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
        present = col.notna()
        if not spec.nullable:
            report(name, "null", ~present)
        if spec.min is not None:
            report(name, "min", _cmp(col, present, spec.min, lambda a, b: a < b))
        if spec.max is not None:
            report(name, "max", _cmp(col, present, spec.max, lambda a, b: a > b))
        if spec.allowed is not None:
            report(name, "allowed", present & ~col.isin(list(spec.allowed)))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False))
    return ValidationResult(violations, batch[~bad].copy(), batch[bad].copy(), reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
