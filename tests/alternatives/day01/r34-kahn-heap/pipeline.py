"""A DAG pipeline runner: Kahn's algorithm with a min-heap keyed by add position."""

from __future__ import annotations

import graphlib
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
        deps = tuple(dict.fromkeys(depends_on))
        if name in self._fns:
            raise ValueError(f"stage {name!r} already exists")
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._fns[name] = fn
        self._deps[name] = deps

    def execution_order(self) -> list[str]:
        unknown = sorted({d for deps in self._deps.values() for d in deps if d not in self._fns})
        if unknown:
            raise ValueError(f"unknown dependencies: {', '.join(map(repr, unknown))}")
        position = {name: i for i, name in enumerate(self._fns)}
        waiting = {name: len(deps) for name, deps in self._deps.items()}
        dependants: dict[str, list[str]] = {name: [] for name in self._fns}
        for name, deps in self._deps.items():
            for d in deps:
                dependants[d].append(name)
        heap = [(position[n], n) for n, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            _, name = heapq.heappop(heap)
            order.append(name)
            for other in dependants[name]:
                waiting[other] -= 1
                if waiting[other] == 0:
                    heapq.heappush(heap, (position[other], other))
        if len(order) < len(self._fns):
            taken = set(order)
            blocked = {n: [d for d in self._deps[n] if d not in taken] for n in self._fns if n not in taken}
            try:
                graphlib.TopologicalSorter(blocked).prepare()
            except graphlib.CycleError as error:
                cycle = list(dict.fromkeys(error.args[1]))
                raise ValueError(f"cycle between stages: {' -> '.join(cycle)}") from None
            raise ValueError(f"stages that can never run: {', '.join(blocked)}")  # not reached
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        report = RunReport()
        for name in order:
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
