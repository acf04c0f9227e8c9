"""Batch validation, value by value in plain Python (exact comparisons come for free)."""

from __future__ import annotations

import math
import numbers
from collections import Counter
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


def _kind(dtype) -> str | None:
    """The schema kind a column dtype is, by name (None for object, judged by values)."""
    if dtype == object:
        return None
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        arrow = dtype.pyarrow_dtype
        if pa.types.is_boolean(arrow):
            return "bool"
        if pa.types.is_integer(arrow):
            return "int"
        if pa.types.is_floating(arrow):
            return "float"
        if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
            return "str"
        if pa.types.is_timestamp(arrow):
            return "datetime"
        return "other"
    if isinstance(dtype, pd.BooleanDtype) or dtype == np.bool_:
        return "bool"
    if isinstance(dtype, pd.StringDtype):
        return "str"
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return "datetime"
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return "int"
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return "float"
    if isinstance(dtype, (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype, pd.UInt8Dtype,
                          pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)):
        return "int"
    if isinstance(dtype, (pd.Float32Dtype, pd.Float64Dtype)):
        return "float"
    return "other"


def _has_type(col: pd.Series, want: str) -> bool:
    kind = _kind(col.dtype)
    if kind is None:
        return want == "str" and all(isinstance(v, str) or pd.isna(v) for v in col.tolist())
    if want == "float":
        return kind in ("int", "float")
    return kind == want


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _below(v, bound) -> bool:
    return _plain(v) < _plain(bound)


def _above(v, bound) -> bool:
    return _plain(v) > _plain(bound)


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    bad_types = [spec.dtype for spec in schema.values() if spec.dtype not in DTYPES]
    if bad_types:
        raise ValueError(f"unknown schema dtype(s): {bad_types}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label: a quarantined row must be nameable")

    violations: list[Violation] = []
    reasons: dict = {}

    def flag(name, check, rows, always=False):
        if rows or always:
            violations.append(Violation(name, check, tuple(rows)))
            for row in rows:
                reasons.setdefault(row, []).append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            flag(name, "missing", labels, always=True)
            continue
        col = batch[name]
        if not _has_type(col, spec.dtype):
            flag(name, "dtype", labels, always=True)
            continue
        cells = [(row, v) for row, v in zip(labels, col.tolist())]
        present = [(row, v) for row, v in cells if not pd.isna(v)]
        if not spec.nullable:
            flag(name, "null", [row for row, v in cells if pd.isna(v)])
        if spec.min is not None:
            flag(name, "min", [row for row, v in present if _below(v, spec.min)])
        if spec.max is not None:
            flag(name, "max", [row for row, v in present if _above(v, spec.max)])
        if spec.allowed is not None:
            allowed = [_plain(a) for a in spec.allowed]
            flag(name, "allowed", [row for row, v in present if not any(_plain(v) == a for a in allowed)])
        if spec.unique:
            counts = Counter(_plain(v) for _, v in present)
            flag(name, "unique", [row for row, v in present if counts[_plain(v)] > 1])

    quarantined = [row in reasons for row in labels]
    keep = [not q for q in quarantined]
    return ValidationResult(violations, batch.loc[keep].copy(), batch.loc[quarantined].copy(), reasons)
