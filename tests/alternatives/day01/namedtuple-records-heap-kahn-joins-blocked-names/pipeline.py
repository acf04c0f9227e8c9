"""DAG pipeline runner: a dict of stage records and Kahn's algorithm with a min-heap on add position."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage(NamedTuple):
    position: int
    fn: Callable[..., Any]
    deps: tuple[str, ...]


class Pipeline:
    def __init__(self) -> None:
        self._stages: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._stages:
            raise ValueError(f"stage {name} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name} depends on itself")
        self._stages[name] = _Stage(len(self._stages), fn, deps)

    def execution_order(self) -> list[str]:
        unknown = [d for s in self._stages.values() for d in s.deps if d not in self._stages]
        if unknown:
            raise ValueError("unknown dependencies: " + ", ".join(dict.fromkeys(unknown)))
        waiting = {name: len(s.deps) for name, s in self._stages.items()}
        dependants: dict[str, list[str]] = {name: [] for name in self._stages}
        for name, s in self._stages.items():
            for d in s.deps:
                dependants[d].append(name)
        heap = [(s.position, name) for name, s in self._stages.items() if not s.deps]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            _, name = heapq.heappop(heap)
            order.append(name)
            for child in dependants[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, (self._stages[child].position, child))
        if len(order) < len(self._stages):
            taken = set(order)
            blocked = [n for n in self._stages if n not in taken]
            raise ValueError("cycle among the stages: " + ", ".join(blocked))
        return order

    def run(self) -> RunReport:
        report = RunReport()
        for name in self.execution_order():
            stage = self._stages[name]
            if not all(d in report.outputs for d in stage.deps):
                report.skipped.append(name)
                continue
            try:
                value = stage.fn(**{d: report.outputs[d] for d in stage.deps})
            except Exception:
                log.exception("stage %s failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
