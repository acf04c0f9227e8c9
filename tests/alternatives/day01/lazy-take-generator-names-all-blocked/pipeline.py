"""A DAG pipeline runner: simple add-order scan loop over a dict of stages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


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
        return list(self._take_in_order())

    def _take_in_order(self) -> Iterator[str]:
        """Yield stages one by one by the take rule; raise ValueError when none can be taken."""
        unknown = sorted({d for _, deps in self._stages.values() for d in deps if d not in self._stages})
        if unknown:
            raise ValueError(f"unknown dependencies: {', '.join(unknown)}")
        order: list[str] = []
        taken: set[str] = set()
        while len(order) < len(self._stages):
            ready = next(
                (n for n, (_, deps) in self._stages.items() if n not in taken and set(deps) <= taken),
                None,
            )
            if ready is None:
                blocked = [n for n in self._stages if n not in taken]
                raise ValueError(f"cycle among stages: {', '.join(blocked)}")
            order.append(ready)
            taken.add(ready)
            yield ready

    def run(self) -> RunReport:
        report = RunReport()
        for name in self.execution_order():
            fn, deps = self._stages[name]
            if any(d not in report.outputs for d in deps):
                report.skipped.append(name)
                continue
            try:
                value = fn(**{d: report.outputs[d] for d in deps})
            except Exception:
                log.exception("stage %s failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
