"""Batch validation, row by row over plain Python values."""

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


def _kind(series: pd.Series) -> str:
    """The schema type of a column, or '' when it is none of them."""
    dtype = series.dtype
    if isinstance(dtype, pd.BooleanDtype) or dtype == np.bool_:
        return "bool"
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return "datetime"
    if isinstance(dtype, (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype, pd.UInt8Dtype,
                          pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)) or (isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return "int"
    if isinstance(dtype, (pd.Float32Dtype, pd.Float64Dtype)) or (isinstance(dtype, np.dtype) and dtype.kind == "f"):
        return "float"
    if isinstance(dtype, pd.StringDtype):
        return "str"
    if dtype == object and all(isinstance(v, str) for v in series.tolist() if not pd.isna(v)):
        return "str"
    return ""


def _fits(kind: str, wanted: str) -> bool:
    return kind == wanted or (wanted == "float" and kind == "int")


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    unknown = [n for n, c in schema.items() if c.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for {unknown}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")

    violations = []
    broken: dict[int, list[str]] = {}  # position -> rules

    def flag(name, check, positions, always=False):
        if positions or always:
            violations.append(Violation(name, check, tuple(labels[p] for p in positions)))
            for p in positions:
                broken.setdefault(p, []).append(f"{name}:{check}")

    every = list(range(len(labels)))
    for name, spec in schema.items():
        if name not in batch.columns:
            flag(name, "missing", every, always=True)
            continue
        series = batch[name]
        if not _fits(_kind(series), spec.dtype):
            flag(name, "dtype", every, always=True)
            continue
        cells = [_py(v) for v in series.tolist()]
        absent = [bool(pd.isna(v)) for v in cells]
        if not spec.nullable:
            flag(name, "null", [p for p in every if absent[p]])
        here = [p for p in every if not absent[p]]
        if spec.min is not None:
            low = _py(spec.min)
            flag(name, "min", [p for p in here if cells[p] < low])
        if spec.max is not None:
            high = _py(spec.max)
            flag(name, "max", [p for p in here if cells[p] > high])
        if spec.allowed is not None:
            options = [_py(a) for a in spec.allowed]
            flag(name, "allowed", [p for p in here if not any(cells[p] == o for o in options)])
        if spec.unique:
            counts = Counter(cells[p] for p in here)
            flag(name, "unique", [p for p in here if counts[cells[p]] > 1])

    take_bad = [p in broken for p in every]
    take_good = [not b for b in take_bad]
    reasons = {labels[p]: rules for p, rules in sorted(broken.items())}
    return ValidationResult(violations, batch.iloc[[p for p in every if take_good[p]]].copy(),
                            batch.iloc[[p for p in every if take_bad[p]]].copy(), reasons)
