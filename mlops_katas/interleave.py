"""Races made visible: the threads a test starts give up the interpreter before every line of
the learner's code, so a check on one line and an update on the next interleave with other
threads unless a lock holds them together (with the GIL's long time slices they almost never
would). Also what counts the lines a worker runs while it should be blocked.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def _before_each(code: Path, event_name: str, action: Callable[[], None]) -> Iterator[None]:
    """Within the block, every thread started runs `action()` before each trace event named
    `event_name` ("line" or "opcode") in code from `code` (a folder, or one file)."""
    target = Path(code).resolve()
    traced: dict[str, bool] = {}  # file name -> whether it is under `target`

    def each_event(frame, event, arg):
        if event == event_name:
            action()
        return each_event

    def on_call(frame, event, arg):
        name = frame.f_code.co_filename
        if name not in traced:
            traced[name] = Path(name).resolve().is_relative_to(target)
        if not traced[name]:
            return None
        frame.f_trace_opcodes = event_name == "opcode"
        return each_event

    threading.settrace(on_call)
    try:
        yield
    finally:
        threading.settrace(None)


def on_every_line_of(code: Path, action: Callable[[], None]) -> contextlib.AbstractContextManager[None]:
    """Within the block, every thread started runs `action()` before each line it executes
    from `code` (a folder, or one file)."""
    return _before_each(code, "line", action)


def switching_threads(code: Path, *, operations: bool = False) -> contextlib.AbstractContextManager[None]:
    """Threads started in the block yield to each other before each line of `code`, or with
    `operations` before each bytecode operation: then a value read and written back within
    one line (`self.tokens = min(...)`) interleaves too."""
    return _before_each(code, "opcode" if operations else "line", lambda: time.sleep(1e-6))
