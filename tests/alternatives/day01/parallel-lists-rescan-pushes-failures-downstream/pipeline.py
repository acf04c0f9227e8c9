"""DAG pipeline runner: parallel lists, the take rule as a plain loop, failures pushed downstream."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
import traceback


@dataclass
class RunReport:
    outputs: dict[str, Any] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.funcs: list[Callable[..., Any]] = []
        self.needs: list[frozenset[str]] = []

    def add_stage(self, name: str, fn: Callable[..., Any], depends_on: Sequence[str] = ()) -> None:
        needs = frozenset(depends_on)
        if name in self.names:
            raise ValueError("duplicate stage: " + name)
        if name in needs:
            raise ValueError("self-dependency: " + name)
        self.names.append(name)
        self.funcs.append(fn)
        self.needs.append(needs)

    def execution_order(self) -> list[str]:
        known = set(self.names)
        for i, needs in enumerate(self.needs):
            missing = needs - known
            if missing:
                raise ValueError(f"{self.names[i]} needs missing stage(s): " + " ".join(sorted(missing)))
        taken: set[str] = set()
        order: list[str] = []
        left = list(range(len(self.names)))
        while left:
            for k, i in enumerate(left):
                if self.needs[i] <= taken:
                    break
            else:
                raise ValueError("dependency cycle; blocked: " + " ".join(self.names[i] for i in left))
            del left[k]
            taken.add(self.names[i])
            order.append(self.names[i])
        return order

    def run(self) -> RunReport:
        order = self.execution_order()
        index = {name: i for i, name in enumerate(self.names)}
        downstream: dict[str, list[str]] = {name: [] for name in self.names}
        for i, name in enumerate(self.names):
            for need in self.needs[i]:
                downstream[need].append(name)
        doomed: set[str] = set()

        def doom_below(name: str) -> None:
            for child in downstream[name]:
                if child not in doomed:
                    doomed.add(child)
                    doom_below(child)

        outputs: dict[str, Any] = {}
        status: dict[str, str] = {}
        for name in order:
            if name in doomed:
                status[name] = "skipped"
                continue
            i = index[name]
            kwargs = {need: outputs[need] for need in self.needs[i]}
            try:
                result = self.funcs[i](**kwargs)
            except Exception:
                traceback.print_exc()
                status[name] = "failed"
                doom_below(name)
            else:
                outputs[name] = result
                status[name] = "succeeded"
        return RunReport(
            outputs=outputs,
            succeeded=[n for n in order if status[n] == "succeeded"],
            failed=[n for n in order if status[n] == "failed"],
            skipped=[n for n in order if status[n] == "skipped"],
        )
