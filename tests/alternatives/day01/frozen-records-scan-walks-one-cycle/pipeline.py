"""DAG runner: a list of Stage records, a linear 'first ready' scan, and a DFS that reports one cycle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stage:
    name: str
    fn: Callable[..., Any]
    deps: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[_Stage] = []

    def _find(self, name):
        return next((s for s in self._stages if s.name == name), None)

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        if self._find(name) is not None:
            raise ValueError(f"duplicate stage name {name!r}")
        if name in deps:
            raise ValueError(f"{name!r} cannot depend on itself")
        self._stages.append(_Stage(name, fn, deps))

    def _one_cycle(self, blocked: list[_Stage]) -> list[str]:
        by_name = {s.name: s for s in blocked}
        # every blocked stage waits for another blocked stage: walk until a name repeats
        path: list[str] = []
        seen: dict[str, int] = {}
        current = blocked[0].name
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = sorted(d for d in by_name[current].deps if d in by_name)[0]
        return path[seen[current]:] + [current]

    def execution_order(self) -> list[str]:
        known = {s.name for s in self._stages}
        for s in self._stages:
            missing = [d for d in sorted(s.deps) if d not in known]
            if missing:
                raise ValueError(f"stage {s.name!r} depends on unknown stage(s) {missing}")
        taken: set[str] = set()
        order: list[str] = []
        while len(order) < len(self._stages):
            ready = next((s for s in self._stages if s.name not in taken and s.deps <= taken), None)
            if ready is None:
                cycle = self._one_cycle([s for s in self._stages if s.name not in taken])
                raise ValueError("dependency cycle: " + " -> ".join(cycle))
            taken.add(ready.name)
            order.append(ready.name)
        return order

    def run(self) -> RunReport:
        report = RunReport()
        for name in self.execution_order():
            stage = self._find(name)
            if any(d not in report.outputs for d in stage.deps):
                report.skipped.append(name)
                continue
            try:
                result = stage.fn(**{d: report.outputs[d] for d in stage.deps})
            except Exception as exc:  # noqa: BLE001 - a stage failure is recorded, not fatal
                logger.error("stage %s failed: %r", name, exc)
                report.failed.append(name)
            else:
                report.succeeded.append(name)
                report.outputs[name] = result
        return report
