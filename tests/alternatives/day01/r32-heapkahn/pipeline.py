"""Day 01 pipeline runner: Kahn's algorithm with a min-heap keyed by add position."""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict
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


@dataclass(frozen=True)
class _Stage:
    name: str
    fn: Any
    deps: frozenset


class _Status(Enum):
    OK = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


def _call(stage_callable, kwargs, /):
    return stage_callable(**kwargs)


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[_Stage] = []
        self._position: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        problems = []
        if name in self._position:
            problems.append(f"duplicate stage name {name!r}")
        if name in deps:
            problems.append(f"stage {name!r} lists itself as a dependency")
        if problems:
            raise ValueError("; ".join(problems))
        self._position[name] = len(self._stages)
        self._stages.append(_Stage(name, fn, deps))

    def _check_known(self) -> None:
        missing = sorted({d for s in self._stages for d in s.deps} - self._position.keys())
        if missing:
            raise ValueError("unknown dependency: " + " / ".join(repr(m) for m in missing))

    def execution_order(self) -> list[str]:
        self._check_known()
        waiting = {s.name: len(s.deps) for s in self._stages}
        dependants: dict[str, list[str]] = defaultdict(list)
        for s in self._stages:
            for d in s.deps:
                dependants[d].append(s.name)
        heap = [self._position[s.name] for s in self._stages if not s.deps]
        heapq.heapify(heap)
        order = []
        while heap:
            stage = self._stages[heapq.heappop(heap)]
            order.append(stage.name)
            for child in dependants[stage.name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(heap, self._position[child])
        if len(order) < len(self._stages):
            blocked = [s.name for s in self._stages if waiting[s.name] > 0]
            raise ValueError(f"dependency cycle among {blocked}")
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        status: dict[str, _Status] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            stage = self._stages[self._position[name]]
            if any(status[d] is not _Status.OK for d in stage.deps):
                status[name] = _Status.SKIPPED
                continue
            try:
                outputs[name] = _call(stage.fn, {d: outputs[d] for d in stage.deps})
            except Exception:
                logger.error("stage %r failed", name, exc_info=True)
                status[name] = _Status.FAILED
            else:
                status[name] = _Status.OK
        report = RunReport(outputs=outputs)
        for name in order:
            getattr(report, status[name].value).append(name)
        return report
