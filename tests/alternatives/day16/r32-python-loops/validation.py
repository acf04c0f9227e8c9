"""Batch validation, one value at a time in plain Python."""
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


def _kind(col: pd.Series) -> set:
    d = col.dtype
    if d == object:
        return {"str"} if all(isinstance(v, str) for v in col if not pd.isna(v)) else set()
    if d.kind == "b" or isinstance(d, pd.BooleanDtype):
        return {"bool"}
    if d.kind in "iu" or (isinstance(d, pd.core.dtypes.dtypes.BaseMaskedDtype) and d.kind in "iu"):
        return {"int", "float"}
    if d.kind == "f":
        return {"float"}
    if d.kind == "M" or isinstance(d, pd.DatetimeTZDtype):
        return {"datetime"}
    if isinstance(d, pd.StringDtype):
        return {"str"}
    return set()


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    bad_kinds = [s.dtype for s in schema.values() if s.dtype not in DTYPES]
    if bad_kinds:
        raise ValueError(f"unknown dtype {bad_kinds[0]!r}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")
    hits: dict[tuple[str, str], list[int]] = {}
    order: list[tuple[str, str]] = []

    def hit(name, check, positions, always=False):
        if positions or always:
            hits[(name, check)] = positions
            order.append((name, check))

    for name, spec in schema.items():
        if name not in batch.columns:
            hit(name, "missing", list(range(len(labels))), True)
            continue
        col = batch[name]
        if spec.dtype not in _kind(col):
            hit(name, "dtype", list(range(len(labels))), True)
            continue
        values = [None if _missing(v) else v for v in col.tolist()]
        if not spec.nullable:
            hit(name, "null", [i for i, v in enumerate(values) if v is None])
        present = [(i, v) for i, v in enumerate(values) if v is not None]
        if spec.min is not None:
            hit(name, "min", [i for i, v in present if v < spec.min])
        if spec.max is not None:
            hit(name, "max", [i for i, v in present if v > spec.max])
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            hit(name, "allowed", [i for i, v in present if not any(v == a for a in allowed)])
        if spec.unique:
            counts: dict = {}
            for _, v in present:
                counts[v] = counts.get(v, 0) + 1
            hit(name, "unique", [i for i, v in present if counts[v] > 1])

    reasons: dict = {}
    flagged = set()
    for key in order:
        for i in hits[key]:
            flagged.add(i)
            reasons.setdefault(labels[i], []).append(f"{key[0]}:{key[1]}")
    keep = np.array([i not in flagged for i in range(len(labels))], dtype=bool)
    violations = [Violation(n, c, tuple(labels[i] for i in hits[(n, c)])) for n, c in order]
    return ValidationResult(violations, batch.iloc[np.flatnonzero(keep)], batch.iloc[np.flatnonzero(~keep)], reasons)
