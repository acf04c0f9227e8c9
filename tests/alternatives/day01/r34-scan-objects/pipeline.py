"""A DAG pipeline runner: stage objects in a list, the tie rule as a plain scan."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    """What one run did; every stage name lands in exactly one of the three lists."""

    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stage:
    name: str
    fn: Any
    needs: frozenset


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[_Stage] = []

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        needs = frozenset(depends_on)
        if any(stage.name == name for stage in self._stages):
            raise ValueError("duplicate stage name: " + repr(name))
        if name in needs:
            raise ValueError("a stage cannot depend on itself: " + repr(name))
        self._stages.append(_Stage(name, fn, needs))

    def execution_order(self) -> list[str]:
        known = {stage.name for stage in self._stages}
        for stage in self._stages:
            missing = stage.needs - known
            if missing:
                raise ValueError(f"stage {stage.name!r} depends on unknown stage(s) {sorted(missing)}")
        order: list[str] = []
        taken: set[str] = set()
        remaining = list(self._stages)
        while remaining:
            for i, stage in enumerate(remaining):
                if stage.needs <= taken:
                    break
            else:
                blocked = [stage.name for stage in remaining]
                raise ValueError(f"cycle: these stages wait on a cycle or sit on one: {blocked}")
            del remaining[i]
            order.append(stage.name)
            taken.add(stage.name)
        return order

    def run(self) -> RunReport:
        by_name = {stage.name: stage for stage in self._stages}
        order = self.execution_order()
        outputs: dict[str, Any] = {}
        status: dict[str, str] = {}
        for name in order:
            stage = by_name[name]
            if any(status[d] != "ok" for d in stage.needs):
                status[name] = "skipped"
                continue
            kwargs = {d: outputs[d] for d in stage.needs}
            try:
                outputs[name] = stage.fn(**kwargs)
            except Exception:
                logging.getLogger("pipeline").error("stage %s failed", name, exc_info=True)
                status[name] = "failed"
            else:
                status[name] = "ok"
            del kwargs
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "ok"],
            failed=[n for n in order if status[n] == "failed"],
            skipped=[n for n in order if status[n] == "skipped"],
        )
