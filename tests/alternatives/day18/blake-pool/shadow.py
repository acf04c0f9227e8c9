from __future__ import annotations

import operator
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ShadowRouter:
    """A thread pool does the mirroring; a semaphore caps the unfinished mirrors."""

    def __init__(self, stable: Callable[[Any], Any], candidate: Callable[[Any], Any], *,
                 compare: Callable[[Any, Any], bool] = operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._stable = stable
        self._candidate = candidate
        self._compare = compare
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._tally: Counter = Counter()
        self._tally_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed = False

    def _count(self, key: str) -> None:
        with self._tally_lock:
            self._tally[key] += 1

    def _mirror(self, request: Any, stable_answer: Any) -> None:
        try:
            try:  # bool() of the result may raise too (numpy arrays): that is an error as well
                key = "agreed" if self._compare(stable_answer, self._candidate(request)) else "disagreed"
            except Exception:
                key = "errors"
            self._count(key)
        finally:
            self._slots.release()

    def handle(self, request: Any) -> Any:
        if self._closed:
            raise RuntimeError("handle() after close()")
        answer = self._stable(request)
        if not self._slots.acquire(blocking=False):
            self._count("dropped")
            return answer
        try:
            self._pool.submit(self._mirror, request, answer)
        except RuntimeError:  # closed meanwhile
            self._slots.release()
            raise
        return answer

    def stats(self) -> dict[str, int]:
        with self._tally_lock:
            return {key: self._tally[key] for key in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
