"""Batch validation with quarantine: one boolean mask per rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

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


def _has_dtype(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    if kind == "bool":
        return dtype == bool or isinstance(dtype, pd.BooleanDtype)
    if ptypes.is_bool_dtype(dtype):
        return False
    if kind == "int":
        return ptypes.is_integer_dtype(dtype)
    if kind == "float":
        return ptypes.is_numeric_dtype(dtype)
    if kind == "datetime":
        return ptypes.is_datetime64_any_dtype(dtype)
    # str
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) for v in col[col.notna()].tolist())
    return False


def _compare(col: pd.Series, present: pd.Series, op) -> pd.Series:
    """op applied to each present value as a Python object (exact for big integers)."""
    out = pd.Series(False, index=col.index)
    values = col[present].astype(object).tolist()
    out[present] = [bool(op(v)) for v in values]
    return out


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"column {name!r}: unknown dtype {spec.dtype!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch index repeats a label")

    violations: list[Violation] = []
    reasons: dict = {}
    bad = pd.Series(False, index=batch.index)

    def report(name: str, check: str, mask: pd.Series, always: bool = False) -> None:
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy(dtype=bool)])
        if not rows and not always:
            return
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
        if not _has_dtype(col, spec.dtype):
            report(name, "dtype", everything, always=True)
            continue
        present = col.notna()
        if not spec.nullable:
            report(name, "null", ~present)
        if spec.min is not None:
            report(name, "min", _compare(col, present, lambda v: v < spec.min))
        if spec.max is not None:
            report(name, "max", _compare(col, present, lambda v: v > spec.max))
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            report(name, "allowed", present & ~col.isin(allowed).fillna(False).astype(bool))
        if spec.unique:
            report(name, "unique", present & col.duplicated(keep=False))

    keep = ~bad.to_numpy(dtype=bool)
    return ValidationResult(violations, batch[keep], batch[~keep], reasons)
