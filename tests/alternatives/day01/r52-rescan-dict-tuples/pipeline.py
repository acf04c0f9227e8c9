"""A DAG pipeline runner: ingest → validate → train → evaluate → deploy → monitor.

Contract (the tests check exactly this):
- `Pipeline()`; `add_stage(name, fn, depends_on=())`. Stages may be added in any order.
  A duplicate name, or a stage that lists itself in `depends_on`, raises ValueError at
  once and leaves the pipeline unchanged (not even a place in the add order is kept).
  Any string is a name; `fn` is not checked. A dependency listed twice is one dependency.
- `execution_order()`: repeatedly take the earliest-added stage whose dependencies are
  all taken. An unknown dependency raises ValueError naming it (also beside a cycle); a cycle raises
  ValueError naming every stage of at least one cycle and no stage that could have run.
- `run()` calls each stage once, in execution order, with its dependencies' outputs (the
  objects themselves, none left out, never passed another way) as keyword arguments named
  after them, and returns a `RunReport`. A stage that raises an Exception is failed;
  everything downstream of it is skipped (never called); other branches run, also when
  str() or repr() of that exception raises.
  KeyboardInterrupt, SystemExit (whatever its code) and other non-Exception BaseExceptions
  are not caught. Every call is a fresh run over every stage added so far; once it has
  returned, only the report holds that run's outputs (no failed stage's inputs or exception is kept,
  nor anything of a run a BaseException stopped). Pipelines share nothing: a stage may run a
  sub-pipeline. With an unknown dependency or a cycle, run() raises the ValueError
  execution_order() raises, before calling any stage.
- Pipelines of tens of densely connected stages order and run at once: look at each stage
  and dependency a bounded number of times, never once per upstream or downstream path
  (rescanning the remaining stages for the earliest ready one at each step is fine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
import logging

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self._stages: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        if name in self._stages:
            raise ValueError(f"stage {name!r} already exists")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise ValueError(f"stage {name!r} depends on itself")
        self._stages[name] = (fn, deps)

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        stages = dict(self._stages)
        unknown = [d for _, deps in stages.values() for d in deps if d not in stages]
        if unknown:
            raise ValueError(f"unknown dependencies: {', '.join(dict.fromkeys(unknown))}")
        order: list[str] = []
        taken: set[str] = set()
        while len(order) < len(stages):
            ready = next(
                (n for n, (_, deps) in stages.items() if n not in taken and all(d in taken for d in deps)),
                None,
            )
            if ready is None:
                blocked = [n for n in stages if n not in taken]
                raise ValueError(f"cycle among the stages: {', '.join(blocked)}")
            order.append(ready)
            taken.add(ready)
        return order

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        order = self.execution_order()
        stages = dict(self._stages)
        report = RunReport()
        for name in order:
            fn, deps = stages[name]
            if not all(d in report.outputs for d in deps):
                report.skipped.append(name)
                continue
            try:
                value = fn(**{d: report.outputs[d] for d in deps})
            except Exception:
                log.exception("stage %r failed", name)
                report.failed.append(name)
                continue
            report.outputs[name] = value
            report.succeeded.append(name)
        return report
