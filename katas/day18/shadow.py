"""Task 4: shadow traffic: the candidate sees real requests, the users never see it.

README task 4 is the full specification. In short:
- `ShadowRouter(stable, candidate, *, compare=operator.eq, max_pending=100, workers=2)`.
- `handle(request)` returns `stable(request)` (its exceptions propagate, nothing is mirrored
  then), then mirrors the request to `candidate` on a background thread: never waited on,
  never returned. With `max_pending` mirrors unfinished, one more is dropped and counted.
- `stats()` -> {"agreed", "disagreed", "errors", "dropped"}; `agreement_rate()` -> float | None.
- `close()` finishes every accepted mirror, then stops the threads; a context manager.
- `handle` is safe from many threads, and `stable` runs outside any lock: no caller waits for another.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any


class ShadowRouter:
    def __init__(self, stable: Callable[[Any], Any], candidate: Callable[[Any], Any], *,
                 compare: Callable[[Any, Any], bool] = operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        # TODO(task 4): validate, set up counters, a bounded hand-off and `workers` threads.
        raise NotImplementedError("task 4")

    def handle(self, request: Any) -> Any:
        """The stable answer; the mirror is queued (or dropped), never awaited."""
        # TODO(task 4): answer from stable, then hand the mirror to the workers or drop it.
        raise NotImplementedError("task 4")

    def stats(self) -> dict[str, int]:
        # TODO(task 4): a copy of the four counters.
        raise NotImplementedError("task 4")

    def agreement_rate(self) -> float | None:
        """Agreed / (agreed + disagreed); None before any comparison finished."""
        # TODO(task 4)
        raise NotImplementedError("task 4")

    def close(self) -> None:
        """Finish every accepted mirror, then stop the worker threads. Safe to call twice."""
        # TODO(task 4)
        raise NotImplementedError("task 4")

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
