"""Batch validation written row by row: a Validator object walks each column's values."""

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


def _kind_of(series: pd.Series) -> set[str]:
    """Every schema kind this column satisfies."""
    dtype = series.dtype
    if isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool):
        return {"bool"}
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return {"datetime"}
    if isinstance(dtype, pd.StringDtype):
        return {"str"}
    kind = getattr(dtype, "kind", None)
    if kind in ("i", "u"):
        return {"int", "float"}
    if kind in ("f", "c"):
        return {"float"}
    if dtype == object:
        if all(isinstance(v, str) or pd.isna(v) for v in series.tolist()):
            return {"str"}
    return set()


class _Validator:
    def __init__(self, batch: pd.DataFrame):
        self.batch = batch
        self.labels = batch.index.tolist()
        self.violations: list[Violation] = []
        self.broken: dict[int, list[str]] = {}

    def report(self, column, check, positions, always=False):
        if not positions and not always:
            return
        self.violations.append(Violation(column, check, tuple(self.labels[p] for p in positions)))
        for p in positions:
            self.broken.setdefault(p, []).append(f"{column}:{check}")

    def check_column(self, name, spec):
        every = list(range(len(self.labels)))
        if name not in self.batch.columns:
            return self.report(name, "missing", every, always=True)
        series = self.batch[name]
        if spec.dtype not in _kind_of(series):
            return self.report(name, "dtype", every, always=True)
        values = series.tolist()
        present = [not pd.isna(v) for v in values]
        if not spec.nullable:
            self.report(name, "null", [p for p, ok in enumerate(present) if not ok])
        live = [(p, v) for p, v in enumerate(values) if present[p]]
        if spec.min is not None:
            self.report(name, "min", [p for p, v in live if v < spec.min])
        if spec.max is not None:
            self.report(name, "max", [p for p, v in live if v > spec.max])
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            self.report(name, "allowed", [p for p, v in live if not any(v == a for a in allowed)])
        if spec.unique:
            counts = Counter(v for _, v in live)
            self.report(name, "unique", [p for p, v in live if counts[v] > 1])

    def result(self) -> ValidationResult:
        bad = np.zeros(len(self.labels), dtype=bool)
        bad[list(self.broken)] = True
        reasons = {self.labels[p]: checks for p, checks in sorted(self.broken.items())}
        return ValidationResult(self.violations, self.batch.iloc[np.flatnonzero(~bad)].copy(),
                                self.batch.iloc[np.flatnonzero(bad)].copy(), reasons)


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
    if not batch.index.is_unique:
        raise ValueError("a quarantined row must be nameable: the index repeats a label")
    validator = _Validator(batch)
    for name, spec in schema.items():
        validator.check_column(name, spec)
    return validator.result()
