"""Task 4: shadow traffic with a queue and worker threads (hint-style)."""

from __future__ import annotations

import operator
import queue
import threading
from typing import Any

_STOP = object()


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending: int = 100, workers: int = 2) -> None:
        if max_pending < 1 or workers < 1:
            raise ValueError("max_pending and workers must be >= 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._counts = {"agreed": 0, "disagreed": 0, "errors": 0, "dropped": 0}
        self._pending = 0
        self._closed = False
        self._queue: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name=f"shadow-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()
        self._close_lock = threading.Lock()
        self._joined = False

    def handle(self, request: Any) -> Any:
        if self._closed:
            raise RuntimeError("router closed")
        answer = self._stable(request)
        with self._lock:
            if self._closed or self._pending >= self._max_pending:
                self._counts["dropped"] += 1
                return answer
            self._pending += 1
            self._queue.put((request, answer))
        return answer

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            request, answer = item
            try:
                outcome = "agreed" if self._compare(answer, self._candidate(request)) else "disagreed"
            except Exception:  # noqa: BLE001
                outcome = "errors"
            with self._lock:
                self._counts[outcome] += 1
                self._pending -= 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def agreement_rate(self) -> float | None:
        with self._lock:
            compared = self._counts["agreed"] + self._counts["disagreed"]
            return None if compared == 0 else self._counts["agreed"] / compared

    def close(self) -> None:
        with self._lock:
            first = not self._closed
            self._closed = True
            if first:
                for _ in self._threads:
                    self._queue.put(_STOP)
        if not first:
            return
        for t in self._threads:
            t.join()

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
