"""A DAG pipeline runner: ingest → validate → train → evaluate → deploy → monitor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        unknown = {d: n for n, (_, deps) in self._stages.items() for d in deps if d not in self._stages}
        if unknown:
            listed = ", ".join(f"{d!r} (needed by {n!r})" for d, n in unknown.items())
            raise ValueError(f"unknown dependencies: {listed}")
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
                raise ValueError(f"dependency cycle among blocked stages: {', '.join(blocked)}")
        return order

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        order = self.execution_order()
        report = RunReport()
        for name in order:
            fn, deps = self._stages[name]
            if not all(d in report.outputs for d in deps):
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
