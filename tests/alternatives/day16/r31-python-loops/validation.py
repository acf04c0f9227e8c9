"""Batch validation with quarantine: each value checked one by one in plain Python."""

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


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _has_type(column: pd.Series, kind: str) -> bool:
    dtype = column.dtype
    is_bool = pd.api.types.is_bool_dtype(dtype) and dtype != object
    if kind == "bool":
        return is_bool
    if kind == "int":
        return pd.api.types.is_integer_dtype(dtype) and not is_bool
    if kind == "float":
        return pd.api.types.is_numeric_dtype(dtype) and not is_bool and dtype != object
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype)
    # "str"
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) for v in column.tolist() if not _missing(v))
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
            raise ValueError(f"unknown dtype {spec.dtype!r} for column {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch's index repeats a label")

    labels = list(batch.index)
    broken: list[list[str]] = [[] for _ in labels]
    violations: list[Violation] = []

    def report(name: str, check: str, positions: list[int], always: bool = False) -> None:
        if positions or always:
            violations.append(Violation(name, check, tuple(labels[p] for p in positions)))
            for p in positions:
                broken[p].append(f"{name}:{check}")

    every = list(range(len(labels)))
    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", every, always=True)
            continue
        column = batch[name]
        if not _has_type(column, spec.dtype):
            report(name, "dtype", every, always=True)
            continue
        cells = column.tolist()
        present = [not _missing(v) for v in cells]
        if not spec.nullable:
            report(name, "null", [p for p in every if not present[p]])
        if spec.min is not None:
            report(name, "min", [p for p in every if present[p] and cells[p] < spec.min])
        if spec.max is not None:
            report(name, "max", [p for p in every if present[p] and cells[p] > spec.max])
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            report(name, "allowed", [p for p in every if present[p] and not any(cells[p] == a for a in allowed)])
        if spec.unique:
            counts = Counter(cells[p] for p in every if present[p])
            report(name, "unique", [p for p in every if present[p] and counts[cells[p]] > 1])

    bad = np.array([bool(b) for b in broken], dtype=bool)
    reasons = {labels[p]: broken[p] for p in every if broken[p]}
    return ValidationResult(violations, batch[~bad], batch[bad], reasons)
