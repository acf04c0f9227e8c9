"""Task 4: shadow traffic on a ThreadPoolExecutor, admission by a non-blocking semaphore."""

from __future__ import annotations

import operator
import threading
from collections import Counter
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
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self._slots = threading.BoundedSemaphore(max_pending)
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(workers, thread_name_prefix="shadow")

    def _count(self, key: str) -> None:
        with self._counts_lock:
            self._counts[key] += 1

    def _mirror(self, request: Any, answer: Any) -> None:
        try:
            try:  # bool() of the result may raise too (numpy arrays): that is an error as well
                key = "agreed" if self.compare(answer, self.candidate(request)) else "disagreed"
            except Exception:
                key = "errors"
            self._count(key)
        finally:
            self._slots.release()

    def handle(self, request: Any) -> Any:
        if self._pool is None:
            raise RuntimeError("closed")
        answer = self.stable(request)
        if not self._slots.acquire(blocking=False):
            self._count("dropped")
            return answer
        with self._state_lock:
            pool = self._pool
            if pool is None:
                self._slots.release()
                raise RuntimeError("closed")
            pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._counts_lock:
            return {key: self._counts[key] for key in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        done = s["agreed"] + s["disagreed"]
        return s["agreed"] / done if done else None

    def close(self) -> None:
        with self._state_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
