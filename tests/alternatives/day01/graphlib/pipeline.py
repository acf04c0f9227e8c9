"""Pipeline runner built on the standard library's graphlib.TopologicalSorter."""

from __future__ import annotations

import graphlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self._names: list[str] = []
        self._fns: dict[str, Callable[..., Any]] = {}
        self._deps: dict[str, list[str]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._fns:
            raise ValueError(f"stage {name!r} already exists")
        deps = list(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._names.append(name)
        self._fns[name] = fn
        self._deps[name] = deps

    def execution_order(self) -> list[str]:
        for name in self._names:
            for dep in self._deps[name]:
                if dep not in self._fns:
                    raise ValueError(f"stage {name!r} depends on unknown stage {dep!r}")
        sorter = graphlib.TopologicalSorter({n: self._deps[n] for n in self._names})
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise ValueError("dependency cycle: " + " -> ".join(cycle)) from None
        position = {n: i for i, n in enumerate(self._names)}
        ready: list[str] = []
        order: list[str] = []
        while sorter.is_active():
            ready.extend(sorter.get_ready())
            ready.sort(key=position.__getitem__)
            nxt = ready.pop(0)
            order.append(nxt)
            sorter.done(nxt)
        return order

    def run(self) -> RunReport:
        report = RunReport()
        for name in self.execution_order():
            deps = self._deps[name]
            if not all(d in report.outputs for d in deps):
                report.skipped.append(name)
                continue
            try:
                value = self._fns[name](**{d: report.outputs[d] for d in deps})
            except Exception:
                log.exception("stage %s failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
