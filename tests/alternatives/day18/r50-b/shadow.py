"""Task 4: shadow traffic on a ThreadPoolExecutor with a pending counter."""
from __future__ import annotations

import operator
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if max_pending < 1 or workers < 1:
            raise ValueError("max_pending and workers must be at least 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._limit = max_pending
        self._cond = threading.Condition()
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._pending = 0
        self._closing = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")

    def _mirror(self, request, answer):
        try:
            verdict = self._compare(answer, self._candidate(request))
            key = "agreed" if verdict else "disagreed"
        except Exception:
            key = "errors"
        with self._cond:
            self._tally[key] += 1
            self._pending -= 1

    def handle(self, request):
        with self._cond:
            if self._closing:
                raise RuntimeError("the shadow router is closed")
        answer = self._stable(request)
        with self._cond:
            if self._closing or self._pending >= self._limit:
                self._tally["dropped"] += 1
            else:
                self._pending += 1
                self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self):
        with self._cond:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self):
        s = self.stats()
        decided = s["agreed"] + s["disagreed"]
        return s["agreed"] / decided if decided else None

    def close(self):
        with self._cond:
            if self._closing:
                return
            self._closing = True
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
