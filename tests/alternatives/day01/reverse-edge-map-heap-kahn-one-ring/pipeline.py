"""A DAG pipeline runner: Kahn's algorithm with a min-heap on add position, parallel lists."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stage:
    name: str
    fn: Callable[..., Any]
    deps: frozenset[str]


class Pipeline:
    def __init__(self) -> None:
        self._list: list[_Stage] = []
        self._index: dict[str, int] = {}
        self._dependants: dict[str, list[str]] = {}  # dependency name -> stages that need it

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        problems = []
        if name in self._index:
            problems.append("duplicate name")
        if name in deps:
            problems.append("self-dependency")
        if problems:
            raise ValueError(f"cannot add {name!r}: {' and '.join(problems)}")
        for dep in sorted(deps):
            self._dependants.setdefault(dep, []).append(name)
        self._index[name] = len(self._list)
        self._list.append(_Stage(name, fn, deps))

    def _check_unknown(self) -> None:
        for stage in self._list:
            missing = [d for d in sorted(stage.deps) if d not in self._index]
            if missing:
                raise ValueError(f"stage {stage.name!r} depends on unknown stage(s) {missing}")

    def execution_order(self) -> list[str]:
        self._check_unknown()
        indegree = [len(s.deps) for s in self._list]
        heap = [i for i, n in enumerate(indegree) if n == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            i = heapq.heappop(heap)
            order.append(self._list[i].name)
            for dependant in self._dependants.get(self._list[i].name, ()):
                j = self._index[dependant]
                indegree[j] -= 1
                if indegree[j] == 0:
                    heapq.heappush(heap, j)
        if len(order) != len(self._list):
            stuck = self._one_cycle(set(order))
            raise ValueError("dependency cycle: " + " -> ".join(stuck + stuck[:1]))
        return order

    def _one_cycle(self, done: set[str]) -> list[str]:
        """Walk dependencies among blocked stages until one repeats; return that ring."""
        by_name = {s.name: s for s in self._list}
        current = next(s.name for s in self._list if s.name not in done)
        path: list[str] = []
        seen: dict[str, int] = {}
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = next(d for d in sorted(by_name[current].deps) if d not in done)
        return path[seen[current]:]

    def run(self) -> RunReport:
        order = self.execution_order()
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            stage = self._list[self._index[name]]
            if not all(status.get(d) == "ok" for d in stage.deps):
                status[name] = "skip"
                continue
            try:
                result = stage.fn(**{d: outputs[d] for d in stage.deps})
            except Exception as exc:  # noqa: BLE001 - a stage may raise anything
                logger.warning("stage %s raised %r", name, exc, exc_info=True)
                status[name] = "fail"
            else:
                status[name] = "ok"
                outputs[name] = result
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "ok"],
            failed=[n for n in order if status[n] == "fail"],
            skipped=[n for n in order if status[n] == "skip"],
        )
