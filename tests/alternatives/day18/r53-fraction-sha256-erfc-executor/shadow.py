"""Task 4 (alt): a ThreadPoolExecutor with a pending counter."""
from __future__ import annotations

import operator
import threading
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if type(max_pending) is not int or max_pending < 1:
            raise ValueError("max_pending must be an int >= 1")
        if type(workers) is not int or workers < 1:
            raise ValueError("workers must be an int >= 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._mu = threading.Lock()
        self._agreed = self._disagreed = self._errors = self._dropped = 0
        self._pending = 0
        self._closing = False
        self._closed_event = threading.Event()

    def _mirror(self, request, answer):
        kind = "e"
        try:
            kind = "a" if self._compare(answer, self._candidate(request)) else "d"
        except BaseException:
            kind = "e"
        finally:
            with self._mu:
                if kind == "a":
                    self._agreed += 1
                elif kind == "d":
                    self._disagreed += 1
                else:
                    self._errors += 1
                self._pending -= 1

    def handle(self, request):
        if self._closing:
            raise RuntimeError("router is closed")
        answer = self._stable(request)
        with self._mu:
            if self._closing or self._pending >= self._max_pending:
                self._dropped += 1
                return answer
            self._pending += 1
            self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self):
        with self._mu:
            return {"agreed": self._agreed, "disagreed": self._disagreed,
                    "errors": self._errors, "dropped": self._dropped}

    def agreement_rate(self):
        s = self.stats()
        done = s["agreed"] + s["disagreed"]
        return s["agreed"] / done if done else None

    def close(self):
        with self._mu:
            first = not self._closing
            self._closing = True
        if first:
            self._pool.shutdown(wait=True)
            self._closed_event.set()
        else:
            self._closed_event.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
