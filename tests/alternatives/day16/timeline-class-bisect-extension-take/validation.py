"""Batch validation: one small rule object per check, applied value by value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

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


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v) or \
        (isinstance(v, (np.floating, np.datetime64)) and bool(pd.isna(v)))


def _kind_of(col: pd.Series) -> set[str]:
    """The schema types a column satisfies."""
    d = col.dtype
    if d.kind == "b" or isinstance(d, pd.BooleanDtype):
        return {"bool"}
    if d.kind in "iu":
        return {"int", "float"}
    if d.kind == "f":
        return {"float"}
    if d.kind == "M" or isinstance(d, pd.DatetimeTZDtype):
        return {"datetime"}
    if isinstance(d, pd.StringDtype):
        return {"str"}
    if d == object and all(isinstance(v, str) for v in col.tolist() if not _is_missing(v)):
        return {"str"}
    return set()


class Validator:
    def __init__(self, schema: Mapping[str, Column]):
        bad = [f"{n}: {c.dtype!r}" for n, c in schema.items() if c.dtype not in DTYPES]
        if bad:
            raise ValueError(f"unknown dtype in schema: {', '.join(bad)}")
        self.schema = schema

    @staticmethod
    def _value_rules(spec: Column) -> list[tuple[str, Callable[[Any], bool]]]:
        rules = []
        if spec.min is not None:
            rules.append(("min", lambda v: v < spec.min))
        if spec.max is not None:
            rules.append(("max", lambda v: v > spec.max))
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            rules.append(("allowed", lambda v: not any(v == a for a in allowed)))
        return rules

    def run(self, batch: pd.DataFrame) -> ValidationResult:
        labels = list(batch.index)
        if len(set(labels)) != len(labels):
            raise ValueError("repeated index label")
        found: list[tuple[str, str, list[int]]] = []
        every = list(range(len(labels)))
        for name, spec in self.schema.items():
            if name not in batch.columns:
                found.append((name, "missing", every))
                continue
            col = batch[name]
            if spec.dtype not in _kind_of(col):
                found.append((name, "dtype", every))
                continue
            vals = col.tolist()
            present = [i for i, v in enumerate(vals) if not _is_missing(v)]
            if not spec.nullable:
                found.append((name, "null", [i for i, v in enumerate(vals) if _is_missing(v)]))
            for check, broken in self._value_rules(spec):
                found.append((name, check, [i for i in present if broken(vals[i])]))
            if spec.unique:
                counts: dict = {}
                for i in present:
                    counts[vals[i]] = counts.get(vals[i], 0) + 1
                found.append((name, "unique", [i for i in present if counts[vals[i]] > 1]))
        violations, reasons, bad = [], {}, set()
        for name, check, positions in found:
            if not positions and check not in ("missing", "dtype"):
                continue
            violations.append(Violation(name, check, tuple(labels[i] for i in positions)))
            for i in positions:
                reasons.setdefault(labels[i], []).append(f"{name}:{check}")
                bad.add(i)
        keep = [i not in bad for i in range(len(labels))]
        mask = np.array(keep, dtype=bool)
        return ValidationResult(violations, batch.iloc[np.flatnonzero(mask)], batch.iloc[np.flatnonzero(~mask)],
                                reasons)


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    return Validator(schema).run(batch)
