"""A DAG pipeline runner (dict + heapq Kahn)."""

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
        for name, (_, deps) in self._stages.items():
            for dep in deps:
                if dep not in self._stages:
                    raise ValueError(f"stage {name!r} depends on unknown stage {dep!r}")
        position = {name: i for i, name in enumerate(self._stages)}
        waiting = {name: len(deps) for name, (_, deps) in self._stages.items()}
        dependants: dict[str, list[str]] = {name: [] for name in self._stages}
        for name, (_, deps) in self._stages.items():
            for dep in deps:
                dependants[dep].append(name)
        heap = [position[name] for name, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        names = list(self._stages)
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
            blocked = [name for name in names if name not in taken]
            raise ValueError("cycle among stages: " + ", ".join(repr(n) for n in blocked))
        return order

    def run(self) -> RunReport:
        report = RunReport()
        broken: set[str] = set()  # failed or skipped in this run
        for name in self.execution_order():
            fn, deps = self._stages[name]
            if any(dep in broken for dep in deps):
                report.skipped.append(name)
                broken.add(name)
                continue
            try:
                value = fn(**{dep: report.outputs[dep] for dep in deps})
            except Exception:
                log.exception("stage %s failed", name)
                report.failed.append(name)
                broken.add(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
