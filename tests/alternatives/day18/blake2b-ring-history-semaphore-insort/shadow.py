"""Shadow traffic on a ThreadPoolExecutor; a non-blocking semaphore bounds the unfinished mirrors."""
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
            raise ValueError("max_pending must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self._places = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._tally_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._closed = False

    def _count(self, what: str) -> None:
        with self._tally_lock:
            self._tally[what] += 1

    def _mirror(self, request: Any, stable_answer: Any) -> None:
        try:
            try:
                verdict = bool(self.compare(stable_answer, self.candidate(request)))
            except Exception:  # noqa: BLE001 - a shadow never fails anyone
                self._count("errors")
            else:
                self._count("agreed" if verdict else "disagreed")
        finally:
            self._places.release()

    def handle(self, request: Any) -> Any:
        if self._closed:
            raise RuntimeError("handle() after close()")
        answer = self.stable(request)
        if not self._places.acquire(blocking=False):
            self._count("dropped")
            return answer
        with self._state_lock:
            if not self._closed:
                self._pool.submit(self._mirror, request, answer)
                return answer
        self._places.release()  # closed meanwhile: dropped, and counted as such
        self._count("dropped")
        return answer

    def stats(self) -> dict[str, int]:
        with self._tally_lock:
            return {k: self._tally[k] for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self) -> None:
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
