from __future__ import annotations
import operator
import threading
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    """Mirrors through a ThreadPoolExecutor; a semaphore bounds unfinished mirrors."""

    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self._slots = threading.BoundedSemaphore(max_pending)
        self._guard = threading.Lock()
        self._agreed = self._disagreed = self._errors = self._dropped = 0
        self._closing = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")

    def _mirror(self, request, answer):
        try:
            try:
                verdict = bool(self.compare(answer, self.candidate(request)))
            except Exception:
                with self._guard:
                    self._errors += 1
                return
            with self._guard:
                if verdict:
                    self._agreed += 1
                else:
                    self._disagreed += 1
        finally:
            self._slots.release()

    def handle(self, request):
        if self._closing:
            raise RuntimeError("router is closing")
        answer = self.stable(request)
        with self._guard:
            if self._closing or not self._slots.acquire(blocking=False):
                self._dropped += 1
                return answer
            self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self):
        with self._guard:
            return {"agreed": self._agreed, "disagreed": self._disagreed,
                    "errors": self._errors, "dropped": self._dropped}

    def agreement_rate(self):
        s = self.stats()
        done = s["agreed"] + s["disagreed"]
        return s["agreed"] / done if done else None

    def close(self):
        with self._guard:
            first = not self._closing
            self._closing = True
        if first:
            self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
