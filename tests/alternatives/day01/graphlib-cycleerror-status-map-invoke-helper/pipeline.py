"""A DAG pipeline runner built on graphlib, with stage objects and a status map."""

from __future__ import annotations

import graphlib
import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stage:
    index: int
    name: str
    fn: Any
    deps: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[_Stage] = []
        self._by_name: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        problems = []
        if name in self._by_name:
            problems.append("is already registered")
        if name in deps:
            problems.append("lists itself as a dependency")
        if problems:
            raise ValueError("stage %r %s" % (name, " and ".join(problems)))
        stage = _Stage(len(self._stages), name, fn, deps)
        self._stages.append(stage)
        self._by_name[name] = stage

    def _check_known(self) -> None:
        unknown = sorted({d for s in self._stages for d in s.deps if d not in self._by_name})
        if unknown:
            raise ValueError("unknown dependencies: %s" % unknown)

    def execution_order(self) -> list[str]:
        self._check_known()
        sorter = graphlib.TopologicalSorter({s.name: s.deps for s in self._stages})
        try:
            sorter.prepare()
        except graphlib.CycleError as err:
            raise ValueError("dependency cycle: %s" % " -> ".join(err.args[1])) from None
        ready: list[tuple[int, str]] = []
        result = []
        while sorter.is_active():
            for name in sorter.get_ready():
                heapq.heappush(ready, (self._by_name[name].index, name))
            _, name = heapq.heappop(ready)
            result.append(name)
            sorter.done(name)
        return result

    @staticmethod
    def _invoke(stage: _Stage, inputs: dict) -> Any:
        return stage.fn(**inputs)

    def run(self) -> RunReport:
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in self.execution_order():
            stage = self._by_name[name]
            if any(status[d] != "ok" for d in stage.deps):
                status[name] = "skip"
                continue
            try:
                outputs[name] = self._invoke(stage, {d: outputs[d] for d in stage.deps})
            except Exception:
                logger.warning("stage %s raised", name, exc_info=True)
                status[name] = "fail"
            else:
                status[name] = "ok"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n, s in status.items() if s == "ok"],
            failed=[n for n, s in status.items() if s == "fail"],
            skipped=[n for n, s in status.items() if s == "skip"],
        )
