"""A DAG pipeline runner: ingest → validate → train → evaluate → deploy → monitor.

Contract (the tests check exactly this):
- `Pipeline()`; `add_stage(name, fn, depends_on=())`. Stages may be added in any order.
  A duplicate name, or a stage that lists itself in `depends_on`, raises ValueError at
  once and leaves the pipeline unchanged. Any string is a name. A dependency listed twice
  is one dependency.
- `execution_order()`: repeatedly take the earliest-added stage whose dependencies are
  all taken. An unknown dependency raises ValueError naming it; a cycle raises
  ValueError naming every stage of at least one cycle and no stage that could have run.
- `run()` calls each stage once, in execution order, with its dependencies' outputs (the
  objects themselves, none left out) as keyword arguments named after them, and returns a
  `RunReport`. A stage that raises an Exception is failed; everything downstream of it is
  skipped (never called); other branches run. KeyboardInterrupt, SystemExit and other
  non-Exception BaseExceptions are not caught. Every call is a fresh run over every
  stage added so far. With an unknown dependency or a cycle, run() raises the ValueError
  execution_order() raises, before calling any stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
import heapq
import logging

log = logging.getLogger("pipeline")


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    """Kahn's algorithm with a min-heap keyed by add position; a status map drives the run."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._position: dict[str, int] = {}
        self._fns: dict[str, Callable[..., Any]] = {}
        self._deps: dict[str, frozenset[str]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        problems = []
        if name in self._position:
            problems.append(f"duplicate stage name {name!r}")
        if name in deps:
            problems.append(f"stage {name!r} lists itself as a dependency")
        if problems:
            raise ValueError("; ".join(problems))
        self._position[name] = len(self._names)
        self._names.append(name)
        self._fns[name] = fn
        self._deps[name] = deps

    def _check_known(self) -> None:
        unknown = sorted({d for deps in self._deps.values() for d in deps} - self._position.keys())
        if unknown:
            raise ValueError("unknown dependencies: " + ", ".join(map(repr, unknown)))

    def execution_order(self) -> list[str]:
        self._check_known()
        waiting = {name: len(deps) for name, deps in self._deps.items()}
        dependants: dict[str, list[str]] = {name: [] for name in self._names}
        for name, deps in self._deps.items():
            for dep in deps:
                dependants[dep].append(name)
        heap = [self._position[n] for n, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            name = self._names[heapq.heappop(heap)]
            order.append(name)
            for child in dependants[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, self._position[child])
        if len(order) != len(self._names):
            cycle = self._find_cycle(set(self._names) - set(order))
            raise ValueError("dependency cycle: " + " -> ".join(cycle + cycle[:1]))
        return order

    def _find_cycle(self, blocked: set[str]) -> list[str]:
        # Every blocked stage waits on some blocked stage; walk until a stage repeats.
        start = min(blocked, key=self._position.__getitem__)
        path: list[str] = []
        seen: dict[str, int] = {}
        node = start
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = min((d for d in self._deps[node] if d in blocked), key=self._position.__getitem__)
        return path[seen[node]:]

    def run(self) -> RunReport:
        order = self.execution_order()
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            deps = self._deps[name]
            if not all(status[d] == "succeeded" for d in deps):
                status[name] = "skipped"
                continue
            kwargs = {d: outputs[d] for d in deps}
            try:
                result = self._fns[name](**kwargs)
            except Exception as exc:  # noqa: BLE001 - a stage failure is data, not a crash
                log.warning("stage %s failed: %r", name, exc, exc_info=True)
                status[name] = "failed"
            else:
                outputs[name] = result
                status[name] = "succeeded"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "succeeded"],
            failed=[n for n in order if status[n] == "failed"],
            skipped=[n for n in order if status[n] == "skipped"],
        )
