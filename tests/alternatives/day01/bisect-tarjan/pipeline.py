"""Pipeline runner: Kahn's algorithm over a bisect-sorted ready list; cycles reported as a
strongly connected component (Tarjan); run() propagates a status per stage."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage(NamedTuple):
    index: int
    name: str
    fn: Callable[..., Any]
    deps: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[_Stage] = []
        self._by_name: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        if name in self._by_name:
            raise ValueError(f"duplicate stage name {name!r}")
        if name in deps:
            raise ValueError(f"{name!r} cannot depend on itself")
        stage = _Stage(len(self._stages), name, fn, deps)
        self._stages.append(stage)
        self._by_name[name] = stage

    def _scc_cycle(self, blocked: set[str]) -> list[str]:
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []
        counter = [0]

        def visit(v: str) -> None:
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on_stack.add(v)
            for w in sorted(self._by_name[v].deps & blocked):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                found.append(comp)

        for s in self._stages:
            if s.name in blocked and s.name not in index:
                visit(s.name)
        return next(c for c in found if len(c) > 1)

    def execution_order(self) -> list[str]:
        for s in self._stages:
            missing = sorted(s.deps - self._by_name.keys())
            if missing:
                raise ValueError(f"{s.name!r} depends on unknown stage(s): {', '.join(missing)}")
        waiting = {s.name: len(s.deps) for s in self._stages}
        dependants: dict[str, list[str]] = {s.name: [] for s in self._stages}
        for s in self._stages:
            for d in s.deps:
                dependants[d].append(s.name)
        ready = [s.index for s in self._stages if not s.deps]
        order: list[str] = []
        while ready:
            name = self._stages[ready.pop(0)].name
            order.append(name)
            for child in dependants[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    bisect.insort(ready, self._by_name[child].index)
        if len(order) < len(self._stages):
            blocked = set(waiting) - set(order)
            cycle = self._scc_cycle(blocked)
            raise ValueError(f"cycle among stages: {sorted(cycle)}")
        return order

    def run(self) -> RunReport:
        report = RunReport()
        status: dict[str, str] = {}
        for name in self.execution_order():
            stage = self._by_name[name]
            if any(status[d] != "ok" for d in stage.deps):
                status[name] = "skip"
                report.skipped.append(name)
                continue
            try:
                result = stage.fn(**{d: report.outputs[d] for d in stage.deps})
            except Exception as exc:  # noqa: BLE001
                log.error("stage %s raised %r", name, exc)
                status[name] = "fail"
                report.failed.append(name)
            else:
                status[name] = "ok"
                report.outputs[name] = result
                report.succeeded.append(name)
        return report
