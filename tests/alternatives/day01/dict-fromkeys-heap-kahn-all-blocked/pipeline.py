"""A DAG pipeline runner (Kahn's algorithm with a min-heap keyed by add position)."""

from __future__ import annotations

import heapq
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

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)

    def execution_order(self) -> list[str]:
        unknown = sorted({d for _, deps in self._stages.values() for d in deps if d not in self._stages})
        if unknown:
            raise ValueError(f"unknown dependencies: {', '.join(unknown)}")
        position = {name: i for i, name in enumerate(self._stages)}
        names = list(self._stages)
        waiting = {name: len(deps) for name, (_, deps) in self._stages.items()}
        dependants: dict[str, list[str]] = {name: [] for name in names}
        for name, (_, deps) in self._stages.items():
            for d in deps:
                dependants[d].append(name)
        heap = [position[n] for n in names if waiting[n] == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            name = names[heapq.heappop(heap)]
            order.append(name)
            for child in dependants[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, position[child])
        if len(order) < len(names):
            taken = set(order)
            blocked = [n for n in names if n not in taken]
            raise ValueError(f"cycle among stages: {', '.join(blocked)}")
        return order

    def run(self) -> RunReport:
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
                log.exception("stage %r failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
