"""A DAG pipeline runner: ingest → validate → train → evaluate → deploy → monitor."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage(NamedTuple):
    name: str
    fn: Callable[..., Any]
    needs: frozenset[str]


class Pipeline:
    def __init__(self) -> None:
        self._list: list[_Stage] = []
        self._position: dict[str, int] = {}
        self._cached: tuple[str, ...] | None = None

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        needs = frozenset(depends_on)
        if name in self._position:
            raise ValueError(f"duplicate stage name: {name}")
        if name in needs:
            raise ValueError(f"{name} cannot depend on itself")
        self._position[name] = len(self._list)
        self._list.append(_Stage(name, fn, needs))
        self._cached = None

    def _compute(self) -> tuple[str, ...]:
        missing = sorted({need for s in self._list for need in s.needs} - self._position.keys())
        if missing:
            raise ValueError("missing dependencies: " + " ".join(missing))
        indegree = [len(s.needs) for s in self._list]
        dependants: list[list[int]] = [[] for _ in self._list]
        for i, s in enumerate(self._list):
            for need in s.needs:
                dependants[self._position[need]].append(i)
        heap = [i for i, d in enumerate(indegree) if d == 0]
        heapq.heapify(heap)
        out: list[str] = []
        while heap:
            i = heapq.heappop(heap)
            out.append(self._list[i].name)
            for j in dependants[i]:
                indegree[j] -= 1
                if indegree[j] == 0:
                    heapq.heappush(heap, j)
        if len(out) < len(self._list):
            # Walk unfinished dependencies from a stuck stage until a stage repeats: that loop is a cycle.
            stuck = {i for i, d in enumerate(indegree) if d > 0}
            walk = [min(stuck)]
            while True:
                here = self._list[walk[-1]]
                nxt = min(self._position[n] for n in here.needs if self._position[n] in stuck)
                if nxt in walk:
                    ring = walk[walk.index(nxt):]
                    break
                walk.append(nxt)
            names = [self._list[i].name for i in ring]
            raise ValueError("cycle: " + " -> ".join(names + names[:1]))
        return tuple(out)

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        if self._cached is None:
            self._cached = self._compute()
        return list(self._cached)

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        order = self.execution_order()
        by_name = {s.name: s for s in self._list}
        results: dict[str, Any] = {}
        status: dict[str, str] = {}
        for name in order:
            stage = by_name[name]
            if any(status[n] != "ok" for n in stage.needs):
                status[name] = "skip"
                continue
            try:
                results[name] = stage.fn(**{n: results[n] for n in stage.needs})
            except Exception as exc:
                logger.error("stage %s raised %r", name, exc, exc_info=True)
                status[name] = "fail"
            else:
                status[name] = "ok"
        pick = lambda wanted: [n for n in order if status[n] == wanted]  # noqa: E731
        return RunReport(outputs=results, succeeded=pick("ok"), failed=pick("fail"), skipped=pick("skip"))
