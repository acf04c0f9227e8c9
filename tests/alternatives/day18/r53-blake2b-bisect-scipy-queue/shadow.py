"""Task 4."""
from __future__ import annotations

import operator
import queue
import threading

_STOP = object()


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError("max_pending")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError("workers")
        self._stable = stable
        self._candidate = candidate
        self._compare = compare
        self._max = max_pending
        self._lock = threading.Lock()
        self._counts = {"agreed": 0, "disagreed": 0, "errors": 0, "dropped": 0}
        self._pending = 0
        self._closed = False
        self._q = queue.Queue()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for t in self._threads:
            t.start()

    def _work(self):
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            request, answer = item
            try:
                outcome = "agreed" if self._compare(answer, self._candidate(request)) else "disagreed"
            except Exception:
                outcome = "errors"
            with self._lock:
                self._counts[outcome] += 1
                self._pending -= 1

    def handle(self, request):
        if self._closed:
            raise RuntimeError("closed")
        answer = self._stable(request)
        with self._lock:
            if self._closed or self._pending >= self._max:
                self._counts["dropped"] += 1
                return answer
            self._pending += 1
            self._q.put((request, answer))
        return answer

    def stats(self):
        with self._lock:
            return dict(self._counts)

    def agreement_rate(self):
        with self._lock:
            n = self._counts["agreed"] + self._counts["disagreed"]
            return None if n == 0 else self._counts["agreed"] / n

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._q.put(_STOP)
        for t in self._threads:
            t.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
