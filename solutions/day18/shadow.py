"""Task 4: shadow traffic: the candidate sees real requests, the users never see it.

Design (README task 4 is the full specification):
- `ShadowRouter(stable, candidate, *, compare=operator.eq, max_pending=100, workers=2)`.
- `handle(request)` returns `stable(request)` (its exceptions propagate, nothing is
  mirrored then); afterwards the request is mirrored to `candidate` on a background thread,
  never waited on, never returned. At most `max_pending` mirrors are unfinished at once; one
  more is dropped and counted.
- `stats()` -> {"agreed", "disagreed", "errors", "dropped"}; `agreement_rate()` -> float | None.
- `close()` answers every accepted mirror, then stops the threads; a context manager.
"""

from __future__ import annotations

import operator
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class ShadowRouter:
    """Stable answers the caller; the candidate's answer is only compared and counted."""

    def __init__(self, stable: Callable[[Any], Any], candidate: Callable[[Any], Any], *,
                 compare: Callable[[Any, Any], bool] = operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        for value, name in ((max_pending, "max_pending"), (workers, "workers")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._counts = {"agreed": 0, "disagreed": 0, "errors": 0, "dropped": 0}
        self._pending = 0
        self._closed = False
        # The queue never holds more than max_pending items: admission is counted under the
        # lock, so memory stays bounded however slow the candidate is.
        self._queue: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name=f"shadow-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def handle(self, request: Any) -> Any:
        """The stable answer; the mirror is queued (or dropped), never awaited."""
        with self._lock:
            if self._closed:
                raise RuntimeError("handle() after close()")
        answer = self._stable(request)
        with self._lock:
            # Closed meanwhile: the workers are stopping, so this mirror could never run.
            if self._closed or self._pending >= self._max_pending:
                self._counts["dropped"] += 1
                return answer
            self._pending += 1
            # Queued under the lock (an unbounded put never blocks): close() sets _closed under
            # the same lock before its stop signals, so an accepted mirror is always ahead of them.
            self._queue.put((request, answer))
        return answer

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            request, stable_answer = item
            try:
                outcome = "agreed" if self._compare(stable_answer, self._candidate(request)) else "disagreed"
            except Exception:  # a failing candidate is a finding, never the caller's problem
                outcome = "errors"
            with self._lock:
                self._counts[outcome] += 1
                self._pending -= 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def agreement_rate(self) -> float | None:
        """Agreed / compared; None before any comparison finished."""
        with self._lock:
            compared = self._counts["agreed"] + self._counts["disagreed"]
            return self._counts["agreed"] / compared if compared else None

    def close(self) -> None:
        """Finish every accepted mirror, then stop the worker threads. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for _ in self._threads:
            self._queue.put(_STOP)  # after every accepted mirror: FIFO finishes them first
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
