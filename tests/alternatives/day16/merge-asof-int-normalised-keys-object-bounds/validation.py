"""Batch validation with boolean masks."""

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
        return pt.is_numeric_dtype(dt) and not pt.is_timedelta64_dtype(dt)
    if kind == "datetime":
        return pt.is_datetime64_any_dtype(dt)
    if kind == "str":
        if dt == object:
            return all(isinstance(v, str) for v in col.tolist() if not pd.isna(v))
        return pt.is_string_dtype(dt)
    return False


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
    reasons: dict = {}
    bad = pd.Series(False, index=batch.index)

    def report(name, check, mask, always=False):
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy(dtype=bool)])
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
        present = col.notna().astype(bool)
        values = col.astype(object)
        if not spec.nullable:
            report(name, "null", ~present)
        if spec.min is not None:
            report(name, "min", pd.Series([p and v < spec.min for p, v in zip(present, values)],
                                          index=batch.index, dtype=bool))
        if spec.max is not None:
            report(name, "max", pd.Series([p and v > spec.max for p, v in zip(present, values)],
                                          index=batch.index, dtype=bool))
        if spec.allowed is not None:
            allowed = spec.allowed
            report(name, "allowed", pd.Series([p and v not in allowed for p, v in zip(present, values)],
                                              index=batch.index, dtype=bool))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False) & present)
    return ValidationResult(violations, batch[~bad.to_numpy()], batch[bad.to_numpy()], reasons)
