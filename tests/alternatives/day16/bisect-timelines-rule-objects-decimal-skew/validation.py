"""Batch validation, one small rule object per check, walking the values row by row."""

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


def _absent(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return v != v
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


class _TypeCheck:
    """Answers 'is this column of kind X' from the dtype itself."""

    def __init__(self, kind: str):
        self.kind = kind

    def __call__(self, col: pd.Series) -> bool:
        dt = col.dtype
        name = str(dt)
        if isinstance(dt, np.dtype):
            k = dt.kind
            if self.kind == "bool":
                return k == "b"
            if self.kind == "int":
                return k in "iu"
            if self.kind == "float":
                return k in "iuf"
            if self.kind == "datetime":
                return k == "M"
            # str: object column judged by its values
            return k == "O" and all(isinstance(v, str) for v in col.tolist() if not _absent(v))
        if isinstance(dt, pd.DatetimeTZDtype):
            return self.kind == "datetime"
        if isinstance(dt, pd.BooleanDtype):
            return self.kind == "bool"
        if isinstance(dt, pd.StringDtype):
            return self.kind == "str"
        if name in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"):
            return self.kind in ("int", "float")
        if name in ("Float32", "Float64"):
            return self.kind == "float"
        return False


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    bad_kinds = [n for n, spec in schema.items() if spec.dtype not in DTYPES]
    if bad_kinds:
        raise ValueError(f"unknown dtype for {bad_kinds}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("index labels repeat")

    found: list[Violation] = []
    broken: dict[int, list[str]] = {}  # position -> rules

    def note(name: str, check: str, positions: list[int], always: bool = False) -> None:
        if positions or always:
            found.append(Violation(name, check, tuple(labels[p] for p in positions)))
            for p in positions:
                broken.setdefault(p, []).append(f"{name}:{check}")

    everyone = list(range(len(labels)))
    for name, spec in schema.items():
        if name not in batch.columns:
            note(name, "missing", everyone, always=True)
            continue
        col = batch[name]
        if not _TypeCheck(spec.dtype)(col):
            note(name, "dtype", everyone, always=True)
            continue
        cells = col.tolist()
        present = [(p, v) for p, v in enumerate(cells) if not _absent(v)]
        if not spec.nullable:
            note(name, "null", [p for p, v in enumerate(cells) if _absent(v)])
        if spec.min is not None:
            note(name, "min", [p for p, v in present if v < spec.min])
        if spec.max is not None:
            note(name, "max", [p for p, v in present if v > spec.max])
        if spec.allowed is not None:
            note(name, "allowed", [p for p, v in present if v not in spec.allowed])
        if spec.unique:
            counts = Counter(v for _, v in present)
            note(name, "unique", [p for p, v in present if counts[v] > 1])

    rows = np.zeros(len(labels), dtype=bool)
    rows[list(broken)] = True
    reasons = {labels[p]: broken[p] for p in sorted(broken)}
    return ValidationResult(found, batch.iloc[np.flatnonzero(~rows)], batch.iloc[np.flatnonzero(rows)], reasons)
