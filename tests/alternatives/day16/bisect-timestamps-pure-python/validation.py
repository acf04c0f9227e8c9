"""Batch validation row by row, in plain Python."""

from __future__ import annotations

import math
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


def _kind(series: pd.Series) -> set:
    """The set of schema types this column's dtype satisfies."""
    kind = series.dtype.kind  # b, i, u, f, c, M, O, U, T...
    if kind == "b":
        return {"bool"}
    if kind in "iu":
        return {"int", "float"}
    if kind in "fc":
        return {"float"}
    if kind == "M":
        return {"datetime"}
    if isinstance(series.dtype, pd.StringDtype):
        return {"str"}
    if series.dtype == object and all(isinstance(v, str) for v in series if not _absent(v)):
        return {"str"}
    return set()


def _absent(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    if any(spec.dtype not in DTYPES for spec in schema.values()):
        raise ValueError("unknown dtype in schema")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")
    violations = []
    reasons: dict = {}
    for name, spec in schema.items():
        found: dict[str, list] = {}
        if name not in batch.columns:
            found["missing"] = list(range(len(labels)))
            forced = ("missing",)
        elif spec.dtype not in _kind(batch[name]):
            found["dtype"] = list(range(len(labels)))
            forced = ("dtype",)
        else:
            forced = ()
            values = batch[name].tolist()
            counts: dict = {}
            for v in values:
                if not _absent(v):
                    counts[v] = counts.get(v, 0) + 1
            allowed = None if spec.allowed is None else set(spec.allowed)
            for i, v in enumerate(values):
                if _absent(v):
                    if not spec.nullable:
                        found.setdefault("null", []).append(i)
                    continue
                if spec.min is not None and v < spec.min:
                    found.setdefault("min", []).append(i)
                if spec.max is not None and v > spec.max:
                    found.setdefault("max", []).append(i)
                if allowed is not None and v not in allowed:
                    found.setdefault("allowed", []).append(i)
                if spec.unique and counts[v] > 1:
                    found.setdefault("unique", []).append(i)
        for check in ("missing", "dtype", "null", "min", "max", "allowed", "unique"):
            if check in found and (found[check] or check in forced):
                rows = tuple(labels[i] for i in found[check])
                violations.append(Violation(name, check, rows))
                for r in rows:
                    reasons.setdefault(r, []).append(f"{name}:{check}")
    bad = [label in reasons for label in labels]
    good = [not b for b in bad]
    return ValidationResult(violations, batch.loc[good], batch.loc[bad], reasons)
