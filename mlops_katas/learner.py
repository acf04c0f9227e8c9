"""Turning learner mistakes into one line that points at the task and its hint.

A stub raises `NotImplementedError("task N")`; a non-Python stub (a Dockerfile, a
manifest, a script) carries the line `STUB(task N)` until the learner starts on it.
Both end up as: `day15 task 2 is yours to do: LRUCache.put in katas/day15/lru_cache.py
(README task 2, 'katas hint day15')`.
"""

from __future__ import annotations

import re
from pathlib import Path

STUB_MARK = re.compile(r"STUB\(task (\d+)\)")
TASK_IN_MESSAGE = re.compile(r"\btask (\d+)\b")


class StubNotDone(Exception):
    """Raised by the harness when a test reaches a file the learner has not started."""


class LearnerTimeout(BaseException):
    """A test ran past its time limit; BaseException so no learner `except Exception` swallows it."""

    def __init__(self, seconds: float, frame) -> None:
        super().__init__(f"stopped after {seconds:g} s")
        self.seconds = seconds
        self.frame = frame


def todo_message(day: str, task: int | str, what: str, rel_file: str) -> str:
    return (
        f"{day} task {task} is yours to do: {what} in {rel_file} "
        f"(README task {task}, 'katas hint {day}')"
    )


def stub_task(path: Path) -> int | None:
    """The task number of an untouched non-Python stub, or None once the learner started."""
    try:
        match = STUB_MARK.search(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return None
    return int(match.group(1)) if match else None


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
