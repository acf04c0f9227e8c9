"""Task 4: shadow traffic on a ThreadPoolExecutor, pending places as a semaphore."""

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
        if not (max_pending >= 1 and workers >= 1):
            raise ValueError("max_pending and workers must be at least 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self._places = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._guard = threading.Lock()
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._open = True

    def _mirror(self, request: Any, answer: Any) -> None:
        try:
            try:
                verdict = self.compare(answer, self.candidate(request))
                key = "agreed" if verdict else "disagreed"
            except Exception:  # noqa: BLE001
                key = "errors"
            with self._guard:
                self._tally[key] += 1
        finally:
            self._places.release()

    def handle(self, request: Any) -> Any:
        if not self._open:
            raise RuntimeError("closed")
        answer = self.stable(request)
        if not self._places.acquire(blocking=False):
            with self._guard:
                self._tally["dropped"] += 1
            return answer
        with self._guard:
            if not self._open:
                self._places.release()
                raise RuntimeError("closed")
            self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._guard:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self) -> None:
        with self._guard:
            was_open, self._open = self._open, False
        if was_open:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
