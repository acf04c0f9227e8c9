"""A DAG pipeline runner: a literal 'earliest-added ready stage' scan, one cycle named."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_logger = logging.getLogger(__name__)

_OK, _FAILED, _SKIPPED = "ok", "failed", "skipped"


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage:
    __slots__ = ("name", "fn", "deps")

    def __init__(self, name: str, fn: Any, deps: frozenset[str], ordered: tuple[str, ...]) -> None:
        self.name = name
        self.fn = fn
        self.deps = ordered


class Pipeline:
    def __init__(self) -> None:
        self._names: list[str] = []
        self._by_name: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        ordered: list[str] = []
        for dep in depends_on:
            if dep not in ordered:
                ordered.append(dep)
        if name in self._by_name:
            raise ValueError(f"duplicate stage name {name!r}")
        if name in ordered:
            raise ValueError(f"stage {name!r} lists itself as a dependency")
        stage = _Stage(name, fn, frozenset(ordered), tuple(ordered))
        self._by_name[name] = stage
        self._names.append(name)

    def _snapshot(self) -> list[_Stage]:
        return [self._by_name[n] for n in list(self._names)]

    @staticmethod
    def _find_cycle(blocked: dict[str, _Stage]) -> list[str]:
        # Every blocked stage waits on at least one blocked stage: follow those links until one repeats.
        path: list[str] = []
        seen: dict[str, int] = {}
        current = next(iter(blocked))
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = next(d for d in blocked[current].deps if d in blocked)
        return path[seen[current]:]

    @classmethod
    def _order_of(cls, stages: list[_Stage]) -> list[str]:
        known = {s.name for s in stages}
        missing = sorted({d for s in stages for d in s.deps if d not in known})
        if missing:
            raise ValueError(f"unknown dependencies {missing}")
        remaining = list(stages)
        taken: set[str] = set()
        order: list[str] = []
        while remaining:
            for i, stage in enumerate(remaining):
                if all(d in taken for d in stage.deps):
                    break
            else:
                cycle = cls._find_cycle({s.name: s for s in remaining})
                raise ValueError("cycle: " + " -> ".join(cycle + cycle[:1]))
            del remaining[i]
            taken.add(stage.name)
            order.append(stage.name)
        return order

    def execution_order(self) -> list[str]:
        return self._order_of(self._snapshot())

    def run(self) -> RunReport:
        stages = self._snapshot()
        by_name = {s.name: s for s in stages}
        order = self._order_of(stages)
        status: dict[str, str] = {}
        report = RunReport()
        results: dict[str, Any] = {}
        for name in order:
            stage = by_name[name]
            if any(status[d] != _OK for d in stage.deps):
                status[name] = _SKIPPED
                report.skipped.append(name)
                continue
            try:
                result = stage.fn(**{d: results[d] for d in stage.deps})
            except Exception as error:
                try:
                    text = repr(error)
                except Exception:
                    text = "<unprintable exception>"
                error = None
                _logger.warning("stage %s failed: %s", name, text)
                status[name] = _FAILED
                report.failed.append(name)
            else:
                status[name] = _OK
                results[name] = result
                report.succeeded.append(name)
        report.outputs = results
        return report
