"""Batch validation with boolean masks."""

from __future__ import annotations

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
        return dtype == np.dtype(bool) or isinstance(dtype, pd.BooleanDtype)
    if pdt.is_bool_dtype(dtype):
        return False
    if kind == "int":
        return pdt.is_integer_dtype(dtype)
    if kind == "float":
        return pdt.is_numeric_dtype(dtype)
    if kind == "datetime":
        return pdt.is_datetime64_any_dtype(dtype)
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) for v in col.dropna().tolist())
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
    everyone = pd.Series(True, index=batch.index)
    bad = pd.Series(False, index=batch.index)
    violations, reasons = [], {}

    def report(name, check, mask, always=False):
        nonlocal bad
        mask = pd.Series(np.asarray(mask, dtype=bool), index=batch.index)
        if not mask.any() and not always:
            return
        rows = tuple(batch.index[mask.to_numpy()])
        violations.append(Violation(name, check, rows))
        for r in rows:
            reasons.setdefault(r, []).append(f"{name}:{check}")
        bad = bad | mask

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", everyone, always=True)
            continue
        col = batch[name]
        if not _has_type(col, spec.dtype):
            report(name, "dtype", everyone, always=True)
            continue
        present = col.notna().to_numpy(dtype=bool)
        if not spec.nullable:
            report(name, "null", ~present)
        values = col.tolist()
        if spec.min is not None:
            report(name, "min", [p and v < spec.min for p, v in zip(present, values)])
        if spec.max is not None:
            report(name, "max", [p and v > spec.max for p, v in zip(present, values)])
        if spec.allowed is not None:
            report(name, "allowed", present & ~col.isin(list(spec.allowed)).to_numpy(dtype=bool))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False).to_numpy(dtype=bool))
    mask = bad.to_numpy()
    return ValidationResult(violations, batch.loc[~mask].copy(), batch.loc[mask].copy(), reasons)
