"""A DAG pipeline runner: a dict of stages, a plain 'take the earliest ready' loop,
and a cached order that every add_stage throws away."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self._stages: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {}
        self._order: list[str] | None = None  # valid orders only; errors are recomputed

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)
        self._order = None

    def _compute_order(self) -> list[str]:
        for name, (_, deps) in self._stages.items():
            for dep in deps:
                if dep not in self._stages:
                    raise ValueError(f"stage {name!r} depends on unknown stage {dep!r}")
        order: list[str] = []
        taken: set[str] = set()
        while len(order) < len(self._stages):
            ready = next(
                (n for n, (_, deps) in self._stages.items() if n not in taken and all(d in taken for d in deps)),
                None,
            )
            if ready is None:
                blocked = [n for n in self._stages if n not in taken]
                raise ValueError(f"cycle among stages: {', '.join(blocked)}")
            order.append(ready)
            taken.add(ready)
        return order

    def execution_order(self) -> list[str]:
        if self._order is None:
            self._order = self._compute_order()
        return list(self._order)

    def run(self) -> RunReport:
        report = RunReport()
        for name in self.execution_order():
            fn, deps = self._stages[name]
            if not all(d in report.outputs for d in deps):
                report.skipped.append(name)
                continue
            try:
                value = fn(**{d: report.outputs[d] for d in deps})
            except Exception:
                log.exception("stage %r failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
