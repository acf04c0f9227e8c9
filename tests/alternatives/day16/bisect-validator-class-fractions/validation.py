"""Batch validation with quarantine: a validator object that walks the rules row by row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

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


def _type_ok(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    is_bool = pd.api.types.is_bool_dtype(dtype) and dtype != object
    if kind == "bool":
        return is_bool
    if kind == "int":
        return not is_bool and pd.api.types.is_integer_dtype(dtype)
    if kind == "float":
        return not is_bool and pd.api.types.is_numeric_dtype(dtype)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype)
    if dtype == object:
        return all(isinstance(v, str) for v in col.tolist() if not pd.isna(v))
    return isinstance(dtype, pd.StringDtype)


class _Validator:
    def __init__(self, batch: pd.DataFrame):
        self.batch = batch
        self.labels = list(batch.index)
        self.violations: list[Violation] = []
        self.reasons: dict = {}

    def flag(self, column: str, check: str, rows: list, always: bool = False) -> None:
        if rows or always:
            self.violations.append(Violation(column, check, tuple(rows)))
            for row in rows:
                self.reasons.setdefault(row, []).append(f"{column}:{check}")

    def check_column(self, name: str, spec: Column) -> None:
        if name not in self.batch.columns:
            self.flag(name, "missing", self.labels, always=True)
            return
        col = self.batch[name]
        if not _type_ok(col, spec.dtype):
            self.flag(name, "dtype", self.labels, always=True)
            return
        values = col.tolist()
        present = [(label, v) for label, v in zip(self.labels, values) if not pd.isna(v)]
        if not spec.nullable:
            self.flag(name, "null", [label for label, v in zip(self.labels, values) if pd.isna(v)])
        if spec.min is not None:
            self.flag(name, "min", [label for label, v in present if v < spec.min])
        if spec.max is not None:
            self.flag(name, "max", [label for label, v in present if v > spec.max])
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            self.flag(name, "allowed", [label for label, v in present if not any(v == a for a in allowed)])
        if spec.unique:
            counts: dict = {}
            for _, v in present:
                counts[v] = counts.get(v, 0) + 1
            self.flag(name, "unique", [label for label, v in present if counts[v] > 1])


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = [name for name, spec in schema.items() if spec.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for column(s) {unknown}")
    if not batch.index.is_unique:
        raise ValueError("the batch index must not repeat a label")
    validator = _Validator(batch)
    for name, spec in schema.items():
        validator.check_column(name, spec)
    bad = batch.index.isin(list(validator.reasons))
    return ValidationResult(validator.violations, batch.loc[~bad], batch.loc[bad], validator.reasons)
