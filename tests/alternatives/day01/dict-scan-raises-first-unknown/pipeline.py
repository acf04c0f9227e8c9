"""A DAG pipeline runner."""

from __future__ import annotations

import logging

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self) -> None:
        self._stages: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)

    def execution_order(self) -> list[str]:
        for name, (_, deps) in self._stages.items():
            for dep in deps:
                if dep not in self._stages:
                    raise ValueError(f"stage {name!r} depends on unknown stage {dep!r}")
        order: list[str] = []
        taken: set[str] = set()
        while len(order) < len(self._stages):
            for name, (_, deps) in self._stages.items():
                if name not in taken and all(d in taken for d in deps):
                    order.append(name)
                    taken.add(name)
                    break
            else:
                blocked = [n for n in self._stages if n not in taken]
                raise ValueError(f"dependency cycle among stages: {', '.join(blocked)}")
        return order

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
