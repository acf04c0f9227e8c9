"""A DAG pipeline runner (Kahn's algorithm with a min-heap keyed by add position)."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _describe(exc: BaseException) -> str:
    name = "Exception"
    try:
        name = type(exc).__name__
        return f"{name}: {exc}"
    except Exception:
        return f"{name} (message could not be printed)"


def _order(stages: dict[str, tuple[Any, tuple[str, ...]]]) -> list[str]:
    unknown = []
    for name, (_, deps) in stages.items():
        for dep in deps:
            if dep not in stages and dep not in unknown:
                unknown.append(dep)
    if unknown:
        raise ValueError("unknown dependencies: " + ", ".join(repr(u) for u in unknown))

    names = list(stages)
    position = {name: i for i, name in enumerate(names)}
    waiting = {name: len(stages[name][1]) for name in names}
    dependants: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for dep in stages[name][1]:
            dependants[dep].append(name)
    heap = [position[n] for n in names if waiting[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        name = names[heapq.heappop(heap)]
        order.append(name)
        for child in dependants[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(heap, position[child])
    if len(order) < len(names):
        taken = set(order)
        blocked = [n for n in names if n not in taken]
        raise ValueError("dependency cycle among stages: " + ", ".join(repr(b) for b in blocked))
    return order


class Pipeline:
    def __init__(self) -> None:
        self._stages: dict[str, tuple[Any, tuple[str, ...]]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)

    def execution_order(self) -> list[str]:
        return _order(dict(self._stages))

    def run(self) -> RunReport:
        stages = dict(self._stages)
        order = _order(stages)
        outputs: dict[str, Any] = {}
        succeeded: list[str] = []
        failed: list[str] = []
        skipped: list[str] = []
        for name in order:
            func, deps = stages[name]
            if not all(dep in outputs for dep in deps):
                skipped.append(name)
                continue
            kwargs = {dep: outputs[dep] for dep in deps}
            try:
                value = func(**kwargs)
            except Exception as exc:
                message = _describe(exc)
                del exc
                log.error("stage %r failed: %s", name, message)
                failed.append(name)
                continue
            finally:
                kwargs = None
            outputs[name] = value
            succeeded.append(name)
        return RunReport(outputs=outputs, succeeded=succeeded, failed=failed, skipped=skipped)
