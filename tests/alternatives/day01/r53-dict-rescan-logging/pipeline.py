"""Day 01 answer: dict of stages, rescanning loop (Hint 2.3 style)."""

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
        stages = dict(self._stages)
        for name, (_, deps) in stages.items():
            for dep in deps:
                if dep not in stages:
                    raise ValueError(f"stage {name!r} depends on unknown stage {dep!r}")
        order: list[str] = []
        taken: set[str] = set()
        remaining = list(stages)
        while remaining:
            for i, name in enumerate(remaining):
                if all(dep in taken for dep in stages[name][1]):
                    break
            else:
                raise ValueError(f"cycle: these stages can never run: {remaining!r}")
            del remaining[i]
            order.append(name)
            taken.add(name)
        return order

    def run(self) -> RunReport:
        stages = dict(self._stages)
        order = self.execution_order()
        report = RunReport()
        for name in order:
            fn, deps = stages[name]
            if not all(dep in report.outputs for dep in deps):
                report.skipped.append(name)
                continue
            kwargs = {dep: report.outputs[dep] for dep in deps}
            try:
                value = fn(**kwargs)
            except Exception:
                log.exception("stage %r failed", name)
                report.failed.append(name)
                continue
            finally:
                del kwargs
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
