"""Kahn's algorithm with a min-heap on add position; cycle message names one cycle only."""
from __future__ import annotations

import heapq
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
        self._deps: list[list[str]] = []
        self._index: dict[str, int] = {}

    def add_stage(self, name, fn, depends_on=()):
        deps = list(depends_on)
        if name in self._index or name in deps:
            raise ValueError("duplicate stage or self-dependency: " + name)
        self._index[name] = len(self._names)
        self._names.append(name)
        self._fns.append(fn)
        self._deps.append(deps)

    def _one_cycle(self, left: set[int]) -> list[str]:
        # walk dependency edges inside the blocked set until a node repeats
        start = min(left)
        path, seen = [], {}
        node = start
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = next(self._index[d] for d in self._deps[node] if self._index[d] in left)
        return [self._names[i] for i in path[seen[node]:]]

    def execution_order(self):
        n = len(self._names)
        missing = sorted({d for deps in self._deps for d in deps if d not in self._index})
        if missing:
            raise ValueError("unknown dependencies: " + " ".join(missing))
        indeg = [len(set(d)) for d in self._deps]
        dependants: list[list[int]] = [[] for _ in range(n)]
        for i, deps in enumerate(self._deps):
            for d in set(deps):
                dependants[self._index[d]].append(i)
        heap = [i for i in range(n) if indeg[i] == 0]
        heapq.heapify(heap)
        out: list[int] = []
        while heap:
            i = heapq.heappop(heap)
            out.append(i)
            for j in dependants[i]:
                indeg[j] -= 1
                if indeg[j] == 0:
                    heapq.heappush(heap, j)
        if len(out) < n:
            left = set(range(n)) - set(out)
            raise ValueError("dependency cycle: " + " -> ".join(self._one_cycle(left)))
        return [self._names[i] for i in out]

    def run(self):
        report = RunReport()
        ok: dict[str, Any] = {}
        for name in self.execution_order():
            i = self._index[name]
            deps = self._deps[i]
            if not all(d in ok for d in deps):
                report.skipped.append(name)
                continue
            try:
                ok[name] = self._fns[i](**{d: ok[d] for d in deps})
            except Exception:
                report.failed.append(name)
            else:
                report.succeeded.append(name)
        report.outputs = ok
        return report
