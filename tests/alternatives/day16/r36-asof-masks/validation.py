"""Task 2: schema validation with quarantine, one boolean mask per rule."""

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


def _type_ok(col: pd.Series, dtype: str) -> bool:
    d = col.dtype
    is_bool = ptypes.is_bool_dtype(d) and d != object
    if dtype == "bool":
        return is_bool
    if dtype == "int":
        return not is_bool and ptypes.is_integer_dtype(d)
    if dtype == "float":
        return not is_bool and ptypes.is_numeric_dtype(d) and d != object
    if dtype == "datetime":
        return ptypes.is_datetime64_any_dtype(d)
    # str
    if isinstance(d, pd.StringDtype):
        return True
    if d == object:
        return all(isinstance(v, str) for v in col[col.notna()].tolist())
    return False


def _plain(bound):
    return bound.item() if isinstance(bound, np.generic) else bound


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"column {name!r}: unknown dtype {spec.dtype!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch index repeats a label")

    violations: list[Violation] = []
    bad = pd.Series(False, index=batch.index)
    reasons: dict = {}

    def report(name, check, mask, always=False):
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy()].tolist())
        if rows or always:
            violations.append(Violation(name, check, rows))
            for row in rows:
                reasons.setdefault(row, []).append(f"{name}:{check}")
            bad = bad | mask

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
        values = col.tolist()
        flags = present.tolist()
        if spec.min is not None:
            low = _plain(spec.min)
            report(name, "min", pd.Series([f and v < low for v, f in zip(values, flags)], index=batch.index, dtype=bool))
        if spec.max is not None:
            high = _plain(spec.max)
            report(name, "max", pd.Series([f and v > high for v, f in zip(values, flags)], index=batch.index, dtype=bool))
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            report(name, "allowed", present & ~col.isin(allowed))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False))

    return ValidationResult(violations, batch[~bad].copy(), batch[bad].copy(), reasons)
