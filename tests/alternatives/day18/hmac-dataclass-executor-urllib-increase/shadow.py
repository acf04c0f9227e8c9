"""A ThreadPoolExecutor with a non-blocking semaphore as the pending bound."""
from __future__ import annotations

import operator
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mirror")
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._mutex = threading.Lock()
        self._shut = threading.Event()

    def _count(self, key):
        with self._mutex:
            self._tally[key] += 1

    def _mirror(self, request, answer):
        try:
            try:
                verdict = bool(self.compare(answer, self.candidate(request)))
            except Exception:  # noqa: BLE001
                self._count("errors")
            else:
                self._count("agreed" if verdict else "disagreed")
        finally:
            self._slots.release()

    def handle(self, request):
        if self._shut.is_set():
            raise RuntimeError("router is closed")
        answer = self.stable(request)
        if self._slots.acquire(blocking=False):
            try:
                self._pool.submit(self._mirror, request, answer)
            except RuntimeError:
                self._slots.release()
                raise
        else:
            self._count("dropped")
        return answer

    def stats(self):
        with self._mutex:
            return {k: self._tally[k] for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self):
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self):
        if not self._shut.is_set():
            self._shut.set()
            self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
