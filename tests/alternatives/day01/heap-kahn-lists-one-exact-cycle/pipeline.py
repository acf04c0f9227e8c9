"""Style: parallel lists + index map; Kahn's algorithm with a min-heap on add position;
cycle error names one concrete cycle found by walking back along unmet dependencies;
run tracks a status dict."""
from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self._names: list[str] = []
        self._fns: list[Callable[..., Any]] = []
        self._deps: list[frozenset[str]] = []
        self._index: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        if name in self._index:
            raise ValueError(f"duplicate stage {name!r}")
        if name in deps:
            raise ValueError(f"stage {name!r} lists itself as a dependency")
        self._index[name] = len(self._names)
        self._names.append(name)
        self._fns.append(fn)
        self._deps.append(deps)

    def _find_cycle(self, remaining: set[int]) -> list[str]:
        # every remaining stage has an unmet dependency that is also remaining: follow them
        i = min(remaining)
        seen: dict[int, int] = {}
        path: list[int] = []
        while i not in seen:
            seen[i] = len(path)
            path.append(i)
            i = min(self._index[d] for d in self._deps[i] if self._index[d] in remaining)
        return [self._names[j] for j in path[seen[i]:]]

    def execution_order(self) -> list[str]:
        unknown = sorted({d for deps in self._deps for d in deps if d not in self._index})
        if unknown:
            raise ValueError(f"unknown dependencies: {unknown}")
        n = len(self._names)
        indegree = [len(d) for d in self._deps]
        dependants: list[list[int]] = [[] for _ in range(n)]
        for i, deps in enumerate(self._deps):
            for d in deps:
                dependants[self._index[d]].append(i)
        heap = [i for i in range(n) if indegree[i] == 0]
        heapq.heapify(heap)
        order: list[int] = []
        while heap:
            i = heapq.heappop(heap)
            order.append(i)
            for j in dependants[i]:
                indegree[j] -= 1
                if indegree[j] == 0:
                    heapq.heappush(heap, j)
        if len(order) < n:
            remaining = set(range(n)) - set(order)
            cycle = self._find_cycle(remaining)
            raise ValueError("cycle: " + " -> ".join(cycle + cycle[:1]))
        return [self._names[i] for i in order]

    def run(self) -> RunReport:
        order = self.execution_order()
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            i = self._index[name]
            if not all(status.get(d) == "ok" for d in self._deps[i]):
                status[name] = "skip"
                continue
            try:
                outputs[name] = self._fns[i](**{d: outputs[d] for d in self._deps[i]})
            except Exception:
                logging.exception("stage %s raised", name)
                status[name] = "fail"
            else:
                status[name] = "ok"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "ok"],
            failed=[n for n in order if status[n] == "fail"],
            skipped=[n for n in order if status[n] == "skip"],
        )
