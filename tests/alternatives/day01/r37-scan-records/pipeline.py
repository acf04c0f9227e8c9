"""Pipeline runner built from a list of stage records scanned in add order (the tie rule read
literally), a cycle named by walking blocked dependencies until one repeats, and a run that
pushes 'blocked' marks down to dependants."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage(NamedTuple):
    name: str
    fn: Any
    needs: frozenset


def _call(fn, kwargs, /):
    return fn(**kwargs)


class Pipeline:
    def __init__(self) -> None:
        self._records: list[_Stage] = []
        self._names: set[str] = set()

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        needs = frozenset(depends_on)
        if name in self._names or name in needs:
            raise ValueError("stage " + repr(name) + (" is already registered" if name in self._names else " lists itself"))
        self._records.append(_Stage(name, fn, needs))
        self._names.add(name)

    def _check_known(self, records):
        names = {r.name for r in records}
        for r in records:
            for dep in sorted(r.needs):
                if dep not in names:
                    raise ValueError("stage " + repr(r.name) + " needs unknown stage " + repr(dep))

    def _cycle_from(self, start, blocked_needs):
        seen: dict[str, int] = {}
        path: list[str] = []
        node = start
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = min(blocked_needs[node])
        return path[seen[node]:]

    def execution_order(self) -> list[str]:
        records = list(self._records)
        self._check_known(records)
        taken: set[str] = set()
        order: list[str] = []
        left = records
        while left:
            rest = []
            picked = None
            for r in left:
                if picked is None and r.needs <= taken:
                    picked = r
                else:
                    rest.append(r)
            if picked is None:
                blocked_needs = {r.name: r.needs - taken for r in left}
                cycle = self._cycle_from(left[0].name, blocked_needs)
                raise ValueError("dependency cycle: " + " -> ".join(cycle + cycle[:1]))
            order.append(picked.name)
            taken.add(picked.name)
            left = rest
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        by_name = {r.name: r for r in self._records}
        dependants: dict[str, list[str]] = {n: [] for n in order}
        for r in by_name.values():
            for dep in r.needs:
                dependants[dep].append(r.name)
        outputs: dict[str, Any] = {}
        done, bad, skip = [], [], []
        doomed: set[str] = set()

        def doom(root):
            todo = [root]
            while todo:
                for child in dependants[todo.pop()]:
                    if child not in doomed:
                        doomed.add(child)
                        todo.append(child)

        for name in order:
            if name in doomed:
                skip.append(name)
                continue
            rec = by_name[name]
            try:
                result = _call(rec.fn, {dep: outputs[dep] for dep in rec.needs})
            except Exception:
                logger.error("stage %s failed", name, exc_info=True)
                bad.append(name)
                doom(name)
                continue
            outputs[name] = result
            done.append(name)
        return RunReport(outputs=outputs, succeeded=done, failed=bad, skipped=skip)
