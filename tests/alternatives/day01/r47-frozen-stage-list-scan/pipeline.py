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

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    name: str
    fn: Any
    deps: frozenset
    dep_list: tuple


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)  # succeeded stages only
    succeeded: list[str] = field(default_factory=list)  # each list in execution order
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self._order: list[Stage] = []  # add order
        self._by_name: dict[str, Stage] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        dep_list = []
        for dep in depends_on:
            if dep not in dep_list:
                dep_list.append(dep)
        if name in self._by_name:
            raise ValueError("duplicate stage name: " + repr(name))
        if name in dep_list:
            raise ValueError("stage depends on itself: " + repr(name))
        stage = Stage(name, fn, frozenset(dep_list), tuple(dep_list))
        self._by_name[name] = stage
        self._order.append(stage)

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        stages = list(self._order)
        known = {s.name for s in stages}
        for s in stages:
            for dep in s.dep_list:
                if dep not in known:
                    raise ValueError("stage " + repr(s.name) + " needs unknown stage " + repr(dep))
        taken: set[str] = set()
        order: list[str] = []
        remaining = stages
        while remaining:
            for i, s in enumerate(remaining):
                if s.deps <= taken:
                    break
            else:
                names = ", ".join(repr(s.name) for s in remaining)
                raise ValueError("cycle: these stages can never run: " + names)
            order.append(s.name)
            taken.add(s.name)
            remaining = remaining[:i] + remaining[i + 1:]
        return order

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        order = self.execution_order()
        by_name = self._by_name
        results: dict[str, Any] = {}
        done, failed, skipped = [], [], []
        bad: set[str] = set()
        for name in order:
            stage = by_name[name]
            if stage.deps & bad:
                skipped.append(name)
                bad.add(name)
                continue
            kwargs = {dep: results[dep] for dep in stage.dep_list}
            try:
                value = stage.fn(**kwargs)
            except Exception:
                _LOG.exception("stage %r failed", name)
                failed.append(name)
                bad.add(name)
                continue
            finally:
                del kwargs
            results[name] = value
            done.append(name)
        return RunReport(outputs=results, succeeded=done, failed=failed, skipped=skipped)
