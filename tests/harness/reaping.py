"""Checking a reaper's work where other katas runs may be reaping too."""

from __future__ import annotations

from typing import Callable


def reaped(name: str, removed: list[str], gone: Callable[[], bool]) -> bool:
    """Did the reap that returned `removed` take `name` (or has it gone anyway)?

    Every katas run reaps what dead runs left when it starts, with the same code. A run
    beside the harness (a kata or a self-check in another terminal) may take a dead run's
    leftover a moment before the test's own reap does: then it is gone, not listed.
    A reaper that leaves it in place fails either way.
    """
    return any(name in line for line in removed) or gone()
