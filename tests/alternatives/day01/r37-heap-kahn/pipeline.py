"""Pipeline runner: stages in one dict (insertion order = add order), Kahn's algorithm with a
min-heap keyed by add position, and a status map built fresh inside each run."""

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
        stages = dict(self._stages)
        unknown = [d for _, deps in stages.values() for d in deps if d not in stages]
        if unknown:
            raise ValueError(f"unknown dependencies: {sorted(set(unknown))}")
        position = {name: i for i, name in enumerate(stages)}
        waiting = {name: len(deps) for name, (_, deps) in stages.items()}
        dependants: dict[str, list[str]] = {name: [] for name in stages}
        for name, (_, deps) in stages.items():
            for d in deps:
                dependants[d].append(name)
        heap = [(position[n], n) for n, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            _, name = heapq.heappop(heap)
            order.append(name)
            for child in dependants[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, (position[child], child))
        if len(order) < len(stages):
            taken = set(order)
            blocked = [n for n in stages if n not in taken]
            raise ValueError(f"cycle among the stages that cannot run: {blocked}")
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        report = RunReport()
        status: dict[str, str] = {}
        for name in order:
            fn, deps = self._stages[name]
            if any(status[d] != "ok" for d in deps):
                status[name] = "skipped"
                report.skipped.append(name)
                continue
            try:
                value = fn(**{d: report.outputs[d] for d in deps})
            except Exception:
                log.exception("stage %r failed", name)
                status[name] = "failed"
                report.failed.append(name)
                continue
            status[name] = "ok"
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
