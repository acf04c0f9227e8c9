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
import heapq
import logging
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
        self._names: list[str] = []
        self._fns: list[Callable[..., Any]] = []
        self._deps: list[frozenset[str]] = []
        self._index: dict[str, int] = {}

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        """Register a stage; dependencies may be added later, so only local mistakes fail here."""
        deps = frozenset(depends_on)
        if name in self._index:
            raise ValueError("duplicate stage name: %r" % (name,))
        if name in deps:
            raise ValueError("stage %r lists itself in depends_on" % (name,))
        self._index[name] = len(self._names)
        self._names.append(name)
        self._fns.append(fn)
        self._deps.append(deps)

    def _positions(self) -> list[int]:
        names, deps, index = list(self._names), list(self._deps), dict(self._index)
        for i, ds in enumerate(deps):
            for d in ds:
                if d not in index:
                    raise ValueError("stage %r depends on unknown stage %r" % (names[i], d))
        waiting = [len(ds) for ds in deps]
        dependants: list[list[int]] = [[] for _ in names]
        for i, ds in enumerate(deps):
            for d in ds:
                dependants[index[d]].append(i)
        heap = [i for i, w in enumerate(waiting) if w == 0]
        heapq.heapify(heap)
        out: list[int] = []
        while heap:
            i = heapq.heappop(heap)
            out.append(i)
            for j in dependants[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(heap, j)
        if len(out) < len(names):
            blocked = [names[i] for i, w in enumerate(waiting) if w > 0]
            raise ValueError("pipeline has a cycle; blocked stages: " + " ".join(repr(b) for b in blocked))
        return out

    def execution_order(self) -> list[str]:
        """The earliest-added ready stage goes next, so the order is stable and reviewable."""
        return [self._names[i] for i in self._positions()]

    def run(self) -> RunReport:
        """Run every stage it can; a failure costs only the stages downstream of it."""
        positions = self._positions()
        report = RunReport()
        ok: set[str] = set()
        for i in positions:
            name, fn, deps = self._names[i], self._fns[i], self._deps[i]
            if not deps <= ok:
                report.skipped.append(name)
                continue
            inputs = {d: report.outputs[d] for d in deps}
            try:
                result = fn(**inputs)
            except Exception:
                logging.getLogger(__name__).exception("stage %s raised", name)
                report.failed.append(name)
            else:
                report.outputs[name] = result
                report.succeeded.append(name)
                ok.add(name)
            del inputs
        return report
