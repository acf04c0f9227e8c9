"""A DAG pipeline runner: Kahn's algorithm with a min-heap keyed by add position."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self._fns: dict[str, Callable[..., Any]] = {}
        self._deps: dict[str, tuple[str, ...]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._fns:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._fns[name] = fn
        self._deps[name] = deps

    def execution_order(self) -> list[str]:
        unknown = sorted({d for deps in self._deps.values() for d in deps if d not in self._deps})
        if unknown:
            raise ValueError(f"unknown dependencies: {', '.join(map(repr, unknown))}")
        position = {name: i for i, name in enumerate(self._deps)}
        waiting = {name: len(deps) for name, deps in self._deps.items()}
        dependants: dict[str, list[str]] = {name: [] for name in self._deps}
        for name, deps in self._deps.items():
            for d in deps:
                dependants[d].append(name)
        heap = [position[n] for n, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        names = list(self._deps)
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
            raise ValueError(f"cycle among stages: {', '.join(map(repr, blocked))}")
        return order

    def run(self) -> RunReport:
        report = RunReport()
        for name in self.execution_order():
            deps = self._deps[name]
            if not all(d in report.outputs for d in deps):
                report.skipped.append(name)
                continue
            try:
                value = self._fns[name](**{d: report.outputs[d] for d in deps})
            except Exception:
                log.exception("stage %r failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
