"""Task 2: batch validation, row by row: collect each row's reasons, then derive the rest."""

from __future__ import annotations

import datetime as dt
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


def _kind_of(col: pd.Series) -> set[str]:
    """The schema dtypes this column satisfies, read from numpy's dtype kind codes."""
    dtype = col.dtype
    if isinstance(dtype, pd.BooleanDtype):
        return {"bool"}
    if isinstance(dtype, pd.StringDtype):
        return {"str"}
    if isinstance(dtype, pd.DatetimeTZDtype):
        return {"datetime"}
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(dtype, np.dtype):
        kind = getattr(dtype, "kind", "O")  # Int64 -> "i", UInt8 -> "u", Float64 -> "f"
    else:
        kind = dtype.kind
    if kind == "b":
        return {"bool"}
    if kind in "iu":
        return {"int", "float"}
    if kind in "fc":
        return {"float"}
    if kind == "M":
        return {"datetime"}
    if kind == "O" and all(isinstance(v, str) for v in col if not pd.isna(v)):
        return {"str"}
    return set()


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = [name for name, spec in schema.items() if spec.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for columns {unknown}")
    if not batch.index.is_unique:
        raise ValueError("a quarantined row must be nameable: the batch's index repeats a label")

    labels = list(batch.index)
    found: dict[tuple[str, str], list] = {}  # (column, check) -> rows, in rule order

    for name, spec in schema.items():
        if name not in batch.columns:
            found[(name, "missing")] = list(labels)
            continue
        col = batch[name]
        if spec.dtype not in _kind_of(col):
            found[(name, "dtype")] = list(labels)
            continue
        cells = col.tolist()
        present = [not pd.isna(v) for v in cells]
        counts: dict = {}
        if spec.unique:
            for v, ok in zip(cells, present):
                if ok:
                    counts[v] = counts.get(v, 0) + 1
        for check, broken in (
            ("null", lambda v, ok: not ok and not spec.nullable),
            ("min", lambda v, ok: ok and spec.min is not None and v < spec.min),
            ("max", lambda v, ok: ok and spec.max is not None and v > spec.max),
            ("allowed", lambda v, ok: ok and spec.allowed is not None and v not in spec.allowed),
            ("unique", lambda v, ok: ok and spec.unique and counts[v] > 1),
        ):
            rows = [label for label, v, ok in zip(labels, cells, present) if broken(v, ok)]
            if rows:
                found[(name, check)] = rows

    reasons: dict = {}
    for (name, check), rows in found.items():
        for row in rows:
            reasons.setdefault(row, []).append(f"{name}:{check}")
    violations = [Violation(name, check, tuple(rows)) for (name, check), rows in found.items()]
    is_bad = [label in reasons for label in labels]
    positions_good = [i for i, bad in enumerate(is_bad) if not bad]
    positions_bad = [i for i, bad in enumerate(is_bad) if bad]
    return ValidationResult(violations, batch.iloc[positions_good].copy(), batch.iloc[positions_bad].copy(),
                            reasons)
