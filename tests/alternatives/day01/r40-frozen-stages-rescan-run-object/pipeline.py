"""A DAG pipeline runner: ingest → validate → train → evaluate → deploy → monitor.

Contract (the tests check exactly this):
- `Pipeline()`; `add_stage(name, fn, depends_on=())`. Stages may be added in any order.
  A duplicate name, or a stage that lists itself in `depends_on`, raises ValueError at
  once and leaves the pipeline unchanged (not even a place in the add order is kept).
  Any string is a name; `fn` is not checked. A dependency listed twice is one dependency.
- `execution_order()`: repeatedly take the earliest-added stage whose dependencies are
  all taken. An unknown dependency raises ValueError naming it; a cycle raises
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
  and dependency a bounded number of times, never once per upstream or downstream path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
import logging

logger = logging.getLogger("pipeline")


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stage:
    name: str
    fn: Any
    deps: frozenset


class _Run:
    """State of one run; lives only inside Pipeline.run()."""

    def __init__(self, stages: dict) -> None:
        self.stages = stages
        self.report = RunReport()
        self.ok: set = set()

    def step(self, stage: _Stage) -> None:
        if not stage.deps <= self.ok:
            self.report.skipped.append(stage.name)
            return
        inputs = {}
        for dep in stage.deps:
            inputs[dep] = self.report.outputs[dep]
        try:
            result = stage.fn(**inputs)
        except Exception as exc:
            try:
                kind = type(exc).__name__
            except Exception:  # pragma: no cover
                kind = "?"
            logger.error("stage %s failed with %s", stage.name, kind)
            self.report.failed.append(stage.name)
            return
        self.report.outputs[stage.name] = result
        self.report.succeeded.append(stage.name)
        self.ok.add(stage.name)


class Pipeline:
    def __init__(self) -> None:
        self._list: list[_Stage] = []
        self._index: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        deps = frozenset(list(depends_on))
        if name in self._index:
            raise ValueError("duplicate stage name: " + name)
        if name in deps:
            raise ValueError("stage depends on itself: " + name)
        self._index[name] = len(self._list)
        self._list.append(_Stage(name, fn, deps))

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        for stage in self._list:
            for dep in stage.deps:
                if dep not in self._index:
                    raise ValueError("stage " + stage.name + " depends on unknown stage " + dep)
        remaining = list(self._list)
        done: set = set()
        result: list[str] = []
        while remaining:
            for i, stage in enumerate(remaining):
                if stage.deps <= done:
                    break
            else:
                raise ValueError("cycle: these stages are blocked: " + " | ".join(s.name for s in remaining))
            del remaining[i]
            done.add(stage.name)
            result.append(stage.name)
        return result

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        order = self.execution_order()
        current = _Run(self._index)
        for name in order:
            current.step(self._list[self._index[name]])
        return current.report
