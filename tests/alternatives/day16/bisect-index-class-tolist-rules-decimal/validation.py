"""Batch validation written as small rule objects, checked value by value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd

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


def _kind(series: pd.Series) -> set[str]:
    """Which declared types a column satisfies."""
    dtype = series.dtype
    if isinstance(dtype, pd.BooleanDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "b"):
        return {"bool"}
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return {"datetime"}
    if isinstance(dtype, (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype, pd.UInt8Dtype,
                          pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)) or (
            isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return {"int", "float"}
    if isinstance(dtype, (pd.Float32Dtype, pd.Float64Dtype)) or (isinstance(dtype, np.dtype) and dtype.kind == "f"):
        return {"float"}
    if isinstance(dtype, pd.StringDtype):
        return {"str"}
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        if all(isinstance(v, str) for v in series.tolist() if not _is_missing(v)):
            return {"str"}
    return set()


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = [spec.dtype for spec in schema.values() if spec.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype(s) {unknown}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")
    violations: list[Violation] = []
    reasons: dict = {}

    def add(name, check, rows, always=False):
        if rows or always:
            violations.append(Violation(name, check, tuple(rows)))
            for row in rows:
                reasons.setdefault(row, []).append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            add(name, "missing", labels, always=True)
            continue
        series = batch[name]
        if spec.dtype not in _kind(series):
            add(name, "dtype", labels, always=True)
            continue
        pairs = list(zip(labels, series.tolist()))
        present = [(row, v) for row, v in pairs if not _is_missing(v)]
        if not spec.nullable:
            add(name, "null", [row for row, v in pairs if _is_missing(v)])
        if spec.min is not None:
            add(name, "min", [row for row, v in present if v < spec.min])
        if spec.max is not None:
            add(name, "max", [row for row, v in present if v > spec.max])
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            add(name, "allowed", [row for row, v in present if not any(v == a for a in allowed)])
        if spec.unique:
            counts: dict = {}
            for _, v in present:
                counts[v] = counts.get(v, 0) + 1
            add(name, "unique", [row for row, v in present if counts[v] > 1])
    bad = [row in reasons for row in labels]
    mask = np.array(bad, dtype=bool)
    return ValidationResult(violations, batch[~mask], batch[mask], reasons)
