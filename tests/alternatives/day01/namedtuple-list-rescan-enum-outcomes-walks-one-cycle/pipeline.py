"""DAG pipeline runner: stage records in a list, the take rule as a plain scan."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage(NamedTuple):
    name: str
    fn: Callable[..., Any]
    deps: tuple[str, ...]


class _Outcome(Enum):
    OK = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


def _find_cycle(blocked: dict[str, _Stage]) -> list[str]:
    """Walk from a blocked stage along blocked dependencies until a stage repeats."""
    seen: dict[str, int] = {}
    path: list[str] = []
    current = next(iter(blocked))
    while current not in seen:
        seen[current] = len(path)
        path.append(current)
        current = next(d for d in blocked[current].deps if d in blocked)
    return path[seen[current]:]


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[_Stage] = []
        self._index: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._index:
            raise ValueError("duplicate stage name " + name)
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError("a stage cannot depend on itself: " + name)
        stage = _Stage(name, fn, deps)
        self._stages.append(stage)
        self._index[name] = stage

    def _check_known(self) -> None:
        for stage in self._stages:
            for dep in stage.deps:
                if dep not in self._index:
                    raise ValueError("stage " + stage.name + " needs unknown stage " + dep)

    def execution_order(self) -> list[str]:
        self._check_known()
        taken: set[str] = set()
        order: list[str] = []
        left = list(self._stages)
        while left:
            for i, stage in enumerate(left):
                if all(d in taken for d in stage.deps):
                    break
            else:
                blocked = {s.name: s for s in left}
                raise ValueError("dependency cycle: " + " -> ".join(_find_cycle(blocked)))
            del left[i]
            taken.add(stage.name)
            order.append(stage.name)
        return order

    def _run_one(self, stage: _Stage, outputs: dict[str, Any]) -> tuple[_Outcome, Any]:
        if any(d not in outputs for d in stage.deps):
            return _Outcome.SKIPPED, None
        kwargs = {d: outputs[d] for d in stage.deps}
        try:
            return _Outcome.OK, stage.fn(**kwargs)
        except Exception:
            logging.getLogger(__name__).exception("stage failed: %s", stage.name)
            return _Outcome.FAILED, None

    def run(self) -> RunReport:
        order = self.execution_order()
        report = RunReport()
        for name in order:
            outcome, value = self._run_one(self._index[name], report.outputs)
            if outcome is _Outcome.OK:
                report.outputs[name] = value
            getattr(report, outcome.value).append(name)
        return report
