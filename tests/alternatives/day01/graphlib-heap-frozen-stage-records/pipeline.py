"""A DAG pipeline runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


import graphlib
import heapq
import sys


@dataclass(frozen=True)
class _Stage:
    position: int
    name: str
    fn: Callable[..., Any]
    needs: frozenset[str]


class Pipeline:
    """Stages live in a list (add order = position) with a name index beside it."""

    def __init__(self) -> None:
        self._list: list[_Stage] = []
        self._index: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        needs = frozenset(depends_on)
        problems = []
        if name in self._index:
            problems.append(f"a stage named {name!r} is already registered")
        if name in needs:
            problems.append(f"stage {name!r} cannot depend on itself")
        if problems:
            raise ValueError("; ".join(problems))
        stage = _Stage(len(self._list), name, fn, needs)
        self._index[name] = stage
        self._list.append(stage)

    def execution_order(self) -> list[str]:
        unknown = sorted({n for s in self._list for n in s.needs} - self._index.keys())
        if unknown:
            raise ValueError("unknown dependencies: " + ", ".join(unknown))
        sorter = graphlib.TopologicalSorter({s.name: s.needs for s in self._list})
        try:
            sorter.prepare()
        except graphlib.CycleError as err:
            cycle = err.args[1]
            raise ValueError("cycle: " + " -> ".join(cycle)) from None
        heap: list[tuple[int, str]] = []
        result = []
        while sorter.is_active():
            for ready in sorter.get_ready():
                heapq.heappush(heap, (self._index[ready].position, ready))
            _, name = heapq.heappop(heap)
            result.append(name)
            sorter.done(name)
        return result

    def run(self) -> RunReport:
        order = self.execution_order()
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            stage = self._index[name]
            if any(status[n] != "ok" for n in stage.needs):
                status[name] = "skip"
                continue
            try:
                outputs[name] = stage.fn(**{n: outputs[n] for n in stage.needs})
            except Exception as exc:
                print(f"stage {name} failed: {type(exc).__name__}", file=sys.stderr)  # repr(exc) may raise
                status[name] = "fail"
            else:
                status[name] = "ok"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "ok"],
            failed=[n for n in order if status[n] == "fail"],
            skipped=[n for n in order if status[n] == "skip"],
        )
