"""Day 01 pipeline runner: a plain "take the earliest ready stage" loop over an ordered dict."""

from __future__ import annotations

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
        self._stages: dict[str, tuple[Any, tuple[str, ...]]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)

    def execution_order(self) -> list[str]:
        unknown = [d for _, deps in self._stages.values() for d in deps if d not in self._stages]
        if unknown:
            raise ValueError(f"unknown dependencies: {', '.join(dict.fromkeys(unknown))}")
        order: list[str] = []
        taken: set[str] = set()
        pending = list(self._stages)
        while pending:
            for i, name in enumerate(pending):
                if all(d in taken for d in self._stages[name][1]):
                    break
            else:
                raise ValueError("cycle: these stages wait on a cycle: " + ", ".join(pending))
            order.append(name)
            taken.add(name)
            del pending[i]
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        report = RunReport()
        for name in order:
            fn, deps = self._stages[name]
            if not all(d in report.outputs for d in deps):
                report.skipped.append(name)
                continue
            inputs = {d: report.outputs[d] for d in deps}
            try:
                value = fn(**inputs)
            except Exception:
                log.exception("stage %s failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
