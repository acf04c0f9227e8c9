"""Task 4: a ThreadPoolExecutor, a pending counter and done-callbacks."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ShadowRouter:
    def __init__(self, stable: Callable[[Any], Any], candidate: Callable[[Any], Any], *,
                 compare: Callable[[Any, Any], bool] = operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._stats = dict.fromkeys(("agreed", "disagreed", "errors", "dropped"), 0)

    def _mirror(self, request, answer) -> str:
        return "agreed" if self._compare(answer, self._candidate(request)) else "disagreed"

    def _done(self, future) -> None:
        outcome = "errors" if future.exception() is not None else future.result()
        with self._lock:
            self._stats[outcome] += 1
            self._pending -= 1

    def handle(self, request: Any) -> Any:
        if self._closed:
            raise RuntimeError("closed")
        answer = self._stable(request)
        with self._lock:
            if self._pending >= self._max_pending:
                self._stats["dropped"] += 1
                return answer
            self._pending += 1
        self._pool.submit(self._mirror, request, answer).add_done_callback(self._done)
        return answer

    def stats(self) -> dict[str, int]:
        with self._lock:
            return self._stats.copy()

    def agreement_rate(self) -> float | None:
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
