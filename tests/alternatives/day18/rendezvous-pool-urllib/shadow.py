"""A ThreadPoolExecutor and a semaphore for admission."""

import operator
import threading
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        if not isinstance(workers, int) or workers < 1:
            raise ValueError("workers must be >= 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mirror")
        self._mutex = threading.Lock()
        self._agreed = self._disagreed = self._errors = self._dropped = 0
        self._shut = False

    def _mirror(self, request, expected):
        try:
            try:
                same = bool(self.compare(expected, self.candidate(request)))
            except Exception:
                with self._mutex:
                    self._errors += 1
                return
            with self._mutex:
                if same:
                    self._agreed += 1
                else:
                    self._disagreed += 1
        finally:
            self._slots.release()

    def handle(self, request):
        if self._shut:
            raise RuntimeError("router is closed")
        result = self.stable(request)
        if not self._slots.acquire(blocking=False):
            with self._mutex:
                self._dropped += 1
            return result
        try:
            self._pool.submit(self._mirror, request, result)
        except RuntimeError:  # pool shut down meanwhile: dropped, and counted as such
            self._slots.release()
            with self._mutex:
                self._dropped += 1
        return result

    def stats(self):
        with self._mutex:
            return {"agreed": self._agreed, "disagreed": self._disagreed,
                    "errors": self._errors, "dropped": self._dropped}

    def agreement_rate(self):
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self):
        self._shut = True
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
