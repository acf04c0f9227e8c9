"""A DAG pipeline runner written as a list of stage records and a plain scan for the tie rule."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Stage(NamedTuple):
    name: str
    fn: Any
    needs: frozenset


def _call(stage_fn, inputs, /):
    return stage_fn(**inputs)


class Pipeline:
    def __init__(self) -> None:
        self._records: list[_Stage] = []
        self._names: set[str] = set()

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        needs = frozenset(depends_on)
        problems = []
        if name in self._names:
            problems.append("the name is taken")
        if name in needs:
            problems.append("it lists itself as a dependency")
        if problems:
            raise ValueError(f"cannot add stage {name!r}: " + " and ".join(problems))
        self._records.append(_Stage(name, fn, needs))
        self._names.add(name)

    def execution_order(self) -> list[str]:
        missing = [d for r in self._records for d in r.needs if d not in self._names]
        if missing:
            raise ValueError("these dependencies are not stages: " + " ".join(missing))
        taken: set[str] = set()
        order: list[str] = []
        left = list(self._records)
        # Each pass takes the earliest ready stage; restart the scan from the front each time.
        # Cheaper: count unmet dependencies, as a pass over tens of stages is fine.
        unmet = {r.name: len(r.needs) for r in left}
        users: dict[str, list[str]] = {}
        for r in left:
            for d in r.needs:
                users.setdefault(d, []).append(r.name)
        while left:
            for i, record in enumerate(left):
                if unmet[record.name] == 0:
                    break
            else:
                stuck = [r.name for r in left]
                raise ValueError(f"the stages {stuck} wait on a cycle and can never run")
            del left[i]
            order.append(record.name)
            taken.add(record.name)
            for user in users.get(record.name, ()):
                unmet[user] -= 1
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        by_name = {r.name: r for r in self._records}
        status: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for name in order:
            record = by_name[name]
            if any(status[d] != "ok" for d in record.needs):
                status[name] = "skipped"
                continue
            try:
                outputs[name] = _call(record.fn, {d: outputs[d] for d in record.needs})
            except Exception:
                status[name] = "failed"
                logging.getLogger("pipeline").error("stage %s failed", name, exc_info=sys.exc_info())
            else:
                status[name] = "ok"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "ok"],
            failed=[n for n in order if status[n] == "failed"],
            skipped=[n for n in order if status[n] == "skipped"],
        )
