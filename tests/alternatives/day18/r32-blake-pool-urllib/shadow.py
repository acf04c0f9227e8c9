"""Style: a ThreadPoolExecutor with a pending counter; close() waits with a Condition then shuts the pool down."""
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
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._limit = max_pending
        self._cond = threading.Condition()
        self._counts = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._pending = 0
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._shutdown_done = threading.Event()
        self._closer = None

    def _mirror(self, request, answer):
        try:
            agreed = bool(self._compare(answer, self._candidate(request)))
            key = "agreed" if agreed else "disagreed"
        except BaseException:
            key = "errors"
        with self._cond:
            self._counts[key] += 1
            self._pending -= 1
            self._cond.notify_all()

    def handle(self, request: Any) -> Any:
        with self._cond:
            if self._closed:
                raise RuntimeError("the shadow router is closed")
        answer = self._stable(request)
        with self._cond:
            if self._closed or self._pending >= self._limit:
                self._counts["dropped"] += 1
                return answer
            self._pending += 1
            self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {k: int(self._counts[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        with self._cond:
            first = not self._closed
            self._closed = True
            if first:
                self._closer = threading.current_thread()
        if not first:
            if self._closer is not threading.current_thread():
                self._shutdown_done.wait()
            return
        with self._cond:
            self._cond.wait_for(lambda: self._pending == 0)
        self._pool.shutdown(wait=True)
        self._shutdown_done.set()

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
