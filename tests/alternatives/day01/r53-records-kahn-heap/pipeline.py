"""Day 01 answer: list of stage records, Kahn's algorithm with a min-heap on add position."""

from __future__ import annotations

import heapq
import sys
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
    fn: Any
    deps: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._records: list[_Stage] = []
        self._index: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        deps = frozenset(depends_on)
        if name in self._index:
            raise ValueError("duplicate stage name: " + repr(name))
        if name in deps:
            raise ValueError("a stage cannot depend on itself: " + repr(name))
        self._index[name] = len(self._records)
        self._records.append(_Stage(name, fn, deps))

    def execution_order(self) -> list[str]:
        records = list(self._records)
        index = {r.name: i for i, r in enumerate(records)}
        missing = sorted({d for r in records for d in r.deps if d not in index})
        if missing:
            raise ValueError("unknown dependencies: " + ", ".join(missing))
        waiting = [len(r.deps) for r in records]
        children: list[list[int]] = [[] for _ in records]
        for i, r in enumerate(records):
            for d in r.deps:
                children[index[d]].append(i)
        heap = [i for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            i = heapq.heappop(heap)
            order.append(records[i].name)
            for c in children[i]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    heapq.heappush(heap, c)
        if len(order) < len(records):
            blocked = [r.name for i, r in enumerate(records) if waiting[i] > 0]
            raise ValueError("dependency cycle; blocked stages: " + ", ".join(blocked))
        return order

    def run(self) -> RunReport:
        records = {r.name: r for r in self._records}
        order = self.execution_order()
        report = RunReport()
        ok: set[str] = set()
        for name in order:
            rec = records[name]
            if not rec.deps <= ok:
                report.skipped.append(name)
                continue
            try:
                value = rec.fn(**{d: report.outputs[d] for d in rec.deps})
            except Exception as exc:
                try:
                    kind = type(exc).__name__
                except Exception:
                    kind = "exception"
                print(f"stage {name} failed ({kind})", file=sys.stderr)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
            ok.add(name)
        return report
