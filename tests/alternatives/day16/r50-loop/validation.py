"""Task 2: validate a batch against a declared schema, one value at a time."""

from __future__ import annotations

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


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _has_type(col: pd.Series, wanted: str) -> bool:
    dtype = col.dtype
    kind = getattr(dtype, "kind", "O")
    if wanted == "int":
        return kind in "iu"
    if wanted == "float":
        return kind in "iuf"
    if wanted == "bool":
        return kind == "b"
    if wanted == "datetime":
        return kind == "M"
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) for v in col.tolist() if not _is_missing(v))
    return False


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    bad_types = [spec.dtype for spec in schema.values() if spec.dtype not in DTYPES]
    if bad_types:
        raise ValueError(f"unknown schema dtype(s): {bad_types}")
    if not batch.index.is_unique:
        raise ValueError("a quarantined row must be nameable: the batch index repeats a label")

    index = batch.index.tolist()
    violations: list[Violation] = []
    reasons: dict = {}

    def add(column: str, check: str, flags: list[bool], always: bool = False) -> None:
        rows = tuple(label for label, flag in zip(index, flags) if flag)
        if rows or always:
            violations.append(Violation(column, check, rows))
            for label in rows:
                reasons.setdefault(label, []).append(f"{column}:{check}")

    every = [True] * len(index)
    for name, spec in schema.items():
        if name not in batch.columns:
            add(name, "missing", every, always=True)
            continue
        col = batch[name]
        if not _has_type(col, spec.dtype):
            add(name, "dtype", every, always=True)
            continue
        values = [_py(v) for v in col.tolist()]
        present = [not _is_missing(v) for v in values]
        if not spec.nullable:
            add(name, "null", [not p for p in present])
        if spec.min is not None:
            low = _py(spec.min)
            add(name, "min", [p and v < low for v, p in zip(values, present)])
        if spec.max is not None:
            high = _py(spec.max)
            add(name, "max", [p and v > high for v, p in zip(values, present)])
        if spec.allowed is not None:
            options = [_py(a) for a in spec.allowed]
            add(name, "allowed", [p and not any(v == a for a in options) for v, p in zip(values, present)])
        if spec.unique:
            counts = Counter(v for v, p in zip(values, present) if p)
            add(name, "unique", [p and counts[v] > 1 for v, p in zip(values, present)])

    quarantined_labels = set(reasons)
    keep = [label not in quarantined_labels for label in index]
    mask = np.array(keep, dtype=bool)
    accepted = batch.loc[mask].copy()
    quarantined = batch.loc[~mask].copy()
    return ValidationResult(violations, accepted, quarantined, reasons)
