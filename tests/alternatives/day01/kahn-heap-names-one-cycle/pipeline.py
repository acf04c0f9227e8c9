"""Kahn's algorithm with a min-heap keyed by add position; a cycle error names one cycle."""
from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Status(Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class _Stage:
    name: str
    fn: Callable[..., Any]
    deps: frozenset
    dep_list: tuple


class Pipeline:
    def __init__(self) -> None:
        self._names: list[str] = []
        self._by_name: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        dep_list = tuple(dict.fromkeys(depends_on))
        problems = []
        if name in self._by_name:
            problems.append(f"duplicate stage name {name}")
        if name in dep_list:
            problems.append(f"{name} cannot depend on itself")
        if problems:
            raise ValueError("; ".join(problems))
        self._by_name[name] = _Stage(name, fn, frozenset(dep_list), dep_list)
        self._names.append(name)

    def _find_cycle(self, blocked: set[str]) -> list[str]:
        # every blocked stage has at least one blocked dependency: walk until a repeat
        current = min(blocked, key=self._names.index)
        path: list[str] = []
        seen: dict[str, int] = {}
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = next(d for d in self._by_name[current].dep_list if d in blocked)
        return path[seen[current]:]

    def execution_order(self) -> list[str]:
        missing = sorted({d for s in self._by_name.values() for d in s.deps} - set(self._by_name))
        if missing:
            raise ValueError("unknown dependencies: " + ", ".join(missing))
        position = {n: i for i, n in enumerate(self._names)}
        indegree = {n: len(self._by_name[n].deps) for n in self._names}
        dependants: dict[str, list[str]] = {n: [] for n in self._names}
        for n in self._names:
            for d in self._by_name[n].deps:
                dependants[d].append(n)
        heap = [(position[n], n) for n in self._names if indegree[n] == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            _, n = heapq.heappop(heap)
            order.append(n)
            for m in dependants[n]:
                indegree[m] -= 1
                if indegree[m] == 0:
                    heapq.heappush(heap, (position[m], m))
        if len(order) != len(self._names):
            cycle = self._find_cycle(set(self._names) - set(order))
            raise ValueError("dependency cycle: " + " -> ".join(cycle + cycle[:1]))
        return order

    def run(self) -> RunReport:
        status: dict[str, Status] = {}
        outputs: dict[str, Any] = {}
        for n in self.execution_order():
            stage = self._by_name[n]
            if any(status[d] is not Status.OK for d in stage.dep_list):
                status[n] = Status.SKIPPED
                continue
            try:
                outputs[n] = stage.fn(**{d: outputs[d] for d in stage.dep_list})
                status[n] = Status.OK
            except Exception as exc:  # noqa: BLE001 - a stage's failure is contained
                logger.error("stage %s raised %r", n, exc, exc_info=True)
                status[n] = Status.FAILED
        pick = lambda s: [n for n in status if status[n] is s]  # noqa: E731
        return RunReport(outputs=outputs, succeeded=pick(Status.OK), failed=pick(Status.FAILED), skipped=pick(Status.SKIPPED))
