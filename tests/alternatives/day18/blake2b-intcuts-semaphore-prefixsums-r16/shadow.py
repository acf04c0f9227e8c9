"""Task 4: shadow traffic on a ThreadPoolExecutor, pending places held by a semaphore."""

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
        self._places = threading.BoundedSemaphore(max_pending)
        self._tally: Counter[str] = Counter()
        self._tally_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=workers,
                                                                    thread_name_prefix="shadow")

    def _count(self, key: str) -> None:
        with self._tally_lock:
            self._tally[key] += 1

    def _mirror(self, request: Any, stable_answer: Any) -> None:
        try:
            try:
                agreed = bool(self.compare(stable_answer, self.candidate(request)))
            except Exception:  # noqa: BLE001
                self._count("errors")
            else:
                self._count("agreed" if agreed else "disagreed")
        finally:
            self._places.release()

    def handle(self, request: Any) -> Any:
        if self._pool is None:
            raise RuntimeError("handle() after close()")
        answer = self.stable(request)
        if not self._places.acquire(blocking=False):
            self._count("dropped")
            return answer
        with self._state_lock:
            pool = self._pool
            if pool is None:
                self._places.release()
                raise RuntimeError("handle() after close()")
            pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._tally_lock:
            return {key: int(self._tally[key]) for key in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        with self._state_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
