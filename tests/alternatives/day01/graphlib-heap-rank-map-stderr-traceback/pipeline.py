"""A DAG pipeline runner built on the standard library's graphlib.TopologicalSorter:
its ready set is drained one stage at a time through a heap keyed by add position,
its CycleError names one cycle, and each run keeps a status per stage."""

from __future__ import annotations

import graphlib
import heapq
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stage:
    fn: Callable[..., Any]
    deps: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._stages: dict[str, Stage] = {}
        self._rank: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        if name in self._stages:
            raise ValueError(f"duplicate stage name: {name}")
        if name in deps:
            raise ValueError(f"stage {name} lists itself as a dependency")
        self._rank[name] = len(self._rank)
        self._stages[name] = Stage(fn, deps)

    def execution_order(self) -> list[str]:
        unknown = sorted({d for s in self._stages.values() for d in s.deps} - self._stages.keys())
        if unknown:
            raise ValueError("unknown dependencies: " + ", ".join(unknown))
        sorter = graphlib.TopologicalSorter({name: s.deps for name, s in self._stages.items()})
        try:
            sorter.prepare()
        except graphlib.CycleError as error:
            raise ValueError("dependency cycle: " + " -> ".join(error.args[1])) from None
        heap: list[tuple[int, str]] = []
        order: list[str] = []
        while sorter.is_active():
            for name in sorter.get_ready():
                heapq.heappush(heap, (self._rank[name], name))
            _, name = heapq.heappop(heap)
            order.append(name)
            sorter.done(name)
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            stage = self._stages[name]
            if any(status[d] != "ok" for d in stage.deps):
                status[name] = "skip"
                continue
            try:
                outputs[name] = stage.fn(**{d: outputs[d] for d in stage.deps})
            except Exception:
                print(f"stage {name} failed:", file=sys.stderr)
                traceback.print_exc()
                status[name] = "fail"
            else:
                status[name] = "ok"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "ok"],
            failed=[n for n in order if status[n] == "fail"],
            skipped=[n for n in order if status[n] == "skip"],
        )
