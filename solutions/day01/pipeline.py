"""A DAG pipeline runner: ingest → validate → train → evaluate → deploy → monitor.

Contract (the tests check exactly this):
- `Pipeline()`; `add_stage(name, fn, depends_on=())`. Stages may be added in any order.
  A duplicate name, or a stage that lists itself in `depends_on`, raises ValueError at
  once and leaves the pipeline unchanged.
- `execution_order()`: repeatedly take the earliest-added stage whose dependencies are
  all taken. An unknown dependency raises ValueError naming it; a cycle raises
  ValueError naming every stage of at least one cycle and no stage that could have run.
- `run()` calls each stage once, in execution order, with its dependencies' outputs as
  keyword arguments named after them, and returns a `RunReport`. A stage that raises is
  failed; everything downstream of it is skipped (never called); other branches run.
  KeyboardInterrupt and SystemExit are not caught. Every call is a fresh run over every
  stage added so far.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stage:
    fn: Callable[..., Any]
    depends_on: tuple[str, ...]


class Pipeline:
    def __init__(self) -> None:
        # A dict keeps insertion order, which is what the tie rule is defined on.
        self._stages: dict[str, _Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        if name in self._stages:
            raise ValueError(f"a stage named {name!r} already exists")
        depends_on = tuple(depends_on)
        if name in depends_on:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = _Stage(fn, depends_on)

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        self._check_dependencies_exist()
        order: list[str] = []
        taken: set[str] = set()
        while len(order) < len(self._stages):
            ready = next(
                (
                    name
                    for name, stage in self._stages.items()
                    if name not in taken and taken.issuperset(stage.depends_on)
                ),
                None,
            )
            if ready is None:
                # What is left can never run: every stage in it sits on a cycle or
                # waits, directly or not, for one that does.
                blocked = [name for name in self._stages if name not in taken]
                raise ValueError(f"dependency cycle: these stages can never run: {', '.join(blocked)}")
            order.append(ready)
            taken.add(ready)
        return order

    def _check_dependencies_exist(self) -> None:
        missing = {
            dep: name
            for name, stage in self._stages.items()
            for dep in stage.depends_on
            if dep not in self._stages
        }
        if missing:
            details = ", ".join(f"{dep!r} (needed by {name!r})" for dep, name in missing.items())
            raise ValueError(f"unknown dependencies: {details}")

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        report = RunReport()
        for name in self.execution_order():
            stage = self._stages[name]
            if not all(dep in report.outputs for dep in stage.depends_on):
                report.skipped.append(name)
                continue
            try:
                value = stage.fn(**{dep: report.outputs[dep] for dep in stage.depends_on})
            except Exception:
                log.exception("stage %r failed; its dependants will be skipped", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
