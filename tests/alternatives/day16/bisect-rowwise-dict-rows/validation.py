"""Row-oriented validation: each column's rule checked value by value in plain Python."""
from __future__ import annotations

from collections import Counter
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


KINDS = {"int": "iu", "float": "iuf", "bool": "b", "datetime": "M"}


def _has_type(series: pd.Series, dtype: str) -> bool:
    kind = series.dtype.kind
    if dtype == "str":
        if isinstance(series.dtype, pd.StringDtype):
            return True
        return kind == "O" and all(isinstance(v, str) for v in series if not pd.isna(v))
    return kind in KINDS[dtype]


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    bad_types = [c.dtype for c in schema.values() if c.dtype not in DTYPES]
    if bad_types:
        raise ValueError(f"unknown dtype(s) {bad_types}")
    if not batch.index.is_unique:
        raise ValueError("repeated index label")
    labels = list(batch.index)
    broken: dict[int, list[str]] = {}  # position -> reasons
    violations = []

    def add(column, check, positions, always=False):
        if positions or always:
            violations.append(Violation(column, check, tuple(labels[p] for p in positions)))
            for p in positions:
                broken.setdefault(p, []).append(f"{column}:{check}")

    everyone = list(range(len(labels)))
    for column, spec in schema.items():
        if column not in batch.columns:
            add(column, "missing", everyone, True)
            continue
        series = batch[column]
        if not _has_type(series, spec.dtype):
            add(column, "dtype", everyone, True)
            continue
        values = series.tolist()  # Python numbers: a float compares with an int bound exactly
        present = [not pd.isna(v) for v in values]
        if not spec.nullable:
            add(column, "null", [p for p in everyone if not present[p]])
        if spec.min is not None:
            add(column, "min", [p for p in everyone if present[p] and values[p] < spec.min])
        if spec.max is not None:
            add(column, "max", [p for p in everyone if present[p] and values[p] > spec.max])
        if spec.allowed is not None:
            add(column, "allowed", [p for p in everyone if present[p] and values[p] not in spec.allowed])
        if spec.unique:
            counts = Counter(values[p] for p in everyone if present[p])
            add(column, "unique", [p for p in everyone if present[p] and counts[values[p]] > 1])

    bad = sorted(broken)
    good = [p for p in everyone if p not in broken]
    return ValidationResult(
        violations=violations,
        accepted=batch.iloc[good],
        quarantined=batch.iloc[bad],
        reasons={labels[p]: broken[p] for p in bad},
    )
