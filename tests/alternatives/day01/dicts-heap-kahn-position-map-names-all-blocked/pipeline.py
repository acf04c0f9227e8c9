"""DAG pipeline runner: Kahn's algorithm with a min-heap keyed by add position."""

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
        self._fns: dict[str, Callable[..., Any]] = {}
        self._deps: dict[str, frozenset[str]] = {}
        self._position: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        if name in self._fns:
            raise ValueError(f"stage already exists: {name}")
        if name in deps:
            raise ValueError(f"stage depends on itself: {name}")
        self._position[name] = len(self._position)
        self._fns[name] = fn
        self._deps[name] = deps

    def execution_order(self) -> list[str]:
        missing = sorted({d for deps in self._deps.values() for d in deps if d not in self._fns})
        if missing:
            raise ValueError("unknown dependencies: " + ", ".join(missing))
        waiting = {name: len(deps) for name, deps in self._deps.items()}
        dependants: dict[str, list[str]] = {name: [] for name in self._deps}
        for name, deps in self._deps.items():
            for d in deps:
                dependants[d].append(name)
        heap = [(self._position[n], n) for n, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            _, name = heapq.heappop(heap)
            order.append(name)
            for child in dependants[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, (self._position[child], child))
        if len(order) < len(self._deps):
            taken = set(order)
            blocked = [n for n in self._deps if n not in taken]
            raise ValueError("cycle: these stages can never run: " + ", ".join(blocked))
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
                log.exception("stage %s failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
