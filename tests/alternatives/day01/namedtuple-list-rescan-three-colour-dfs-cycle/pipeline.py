"""Pipeline runner: stage records in a list, a rescanning take loop, and a DFS that names one cycle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    deps: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._list: list[_Stage] = []
        self._names: set[str] = set()
        self._position: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        problems = []
        if name in self._names:
            problems.append("duplicate stage name")
        if name in deps:
            problems.append("stage depends on itself")
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))
        self._list.append(_Stage(name, fn, deps))
        self._names.add(name)
        self._position[name] = len(self._position)

    def _find_cycle(self, remaining: list[_Stage]) -> list[str]:
        """Depth-first search along dependencies; the first back edge closes a cycle."""
        deps = {s.name: s.deps for s in self._list}
        finished: set[str] = set()
        path: list[str] = []
        on_path: set[str] = set()

        def visit(name: str) -> list[str] | None:
            if name in on_path:
                return path[path.index(name):]
            if name in finished:
                return None
            path.append(name)
            on_path.add(name)
            for dep in sorted(deps[name], key=self._position.__getitem__):
                found = visit(dep)
                if found:
                    return found
            path.pop()
            on_path.discard(name)
            finished.add(name)
            return None

        for stage in remaining:
            found = visit(stage.name)
            if found:
                return found
        raise AssertionError("stuck without a cycle")

    def execution_order(self) -> list[str]:
        for stage in self._list:
            missing = [d for d in stage.deps if d not in self._names]
            if missing:
                raise ValueError(f"stage {stage.name} depends on unknown stage(s): {', '.join(missing)}")
        remaining = list(self._list)
        done: set[str] = set()
        order: list[str] = []
        while remaining:
            for i, stage in enumerate(remaining):
                if stage.deps <= done:
                    break
            else:
                cycle = self._find_cycle(remaining)
                raise ValueError("dependency cycle: " + " -> ".join(cycle + cycle[:1]))
            del remaining[i]
            done.add(stage.name)
            order.append(stage.name)
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        stages = {s.name: s for s in self._list}
        outputs: dict[str, Any] = {}
        status: dict[str, str] = {}
        for name in order:
            stage = stages[name]
            if any(status[d] != "succeeded" for d in stage.deps):
                status[name] = "skipped"
                continue
            kwargs = {d: outputs[d] for d in stage.deps}
            try:
                outputs[name] = stage.fn(**kwargs)
            except Exception:
                status[name] = "failed"
            else:
                status[name] = "succeeded"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "succeeded"],
            failed=[n for n in order if status[n] == "failed"],
            skipped=[n for n in order if status[n] == "skipped"],
        )
