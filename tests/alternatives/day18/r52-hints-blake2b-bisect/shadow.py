"""Task 4."""
from __future__ import annotations

import operator
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class ShadowRouter:
    def __init__(self, stable: Callable[[Any], Any], candidate: Callable[[Any], Any], *,
                 compare: Callable[[Any, Any], bool] = operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        if max_pending < 1 or workers < 1:
            raise ValueError("max_pending and workers must be >= 1")
        self._stable = stable
        self._candidate = candidate
        self._compare = compare
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._counts = {"agreed": 0, "disagreed": 0, "errors": 0, "dropped": 0}
        self._pending = 0
        self._closed = False
        self._close_lock = threading.Lock()
        self._joined = False
        self._queue: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            request, answer = item
            try:
                result = self._compare(answer, self._candidate(request))
                outcome = "agreed" if result else "disagreed"
            except BaseException:
                outcome = "errors"
            with self._lock:
                self._counts[outcome] += 1
                self._pending -= 1

    def handle(self, request: Any) -> Any:
        if self._closed:
            raise RuntimeError("closed")
        answer = self._stable(request)
        with self._lock:
            if self._closed or self._pending >= self._max_pending:
                self._counts["dropped"] += 1
                return answer
            self._pending += 1
            self._queue.put((request, answer))
        return answer

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def agreement_rate(self) -> float | None:
        with self._lock:
            a, d = self._counts["agreed"], self._counts["disagreed"]
        if a + d == 0:
            return None
        return a / (a + d)

    def close(self) -> None:
        with self._close_lock:
            if self._joined:
                return
            with self._lock:
                self._closed = True
                for _ in self._threads:
                    self._queue.put(_STOP)
            for t in self._threads:
                t.join()
            self._joined = True

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
