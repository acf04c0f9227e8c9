from __future__ import annotations
import operator, threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if max_pending < 1 or workers < 1:
            raise ValueError("max_pending and workers must be >= 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._limit = max_pending
        self._cv = threading.Condition()
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._inflight = 0
        self._closing = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._shutdown_lock = threading.Lock()

    def _mirror(self, request, answer):
        try:
            verdict = "agreed" if self._compare(answer, self._candidate(request)) else "disagreed"
        except Exception:
            verdict = "errors"
        with self._cv:
            self._tally[verdict] += 1
            self._inflight -= 1
            self._cv.notify_all()

    def handle(self, request):
        if self._closing:
            raise RuntimeError("router is closed")
        answer = self._stable(request)
        with self._cv:
            if self._closing or self._inflight >= self._limit:
                self._tally["dropped"] += 1
            else:
                self._inflight += 1
                self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self):
        with self._cv:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self):
        s = self.stats()
        judged = s["agreed"] + s["disagreed"]
        return s["agreed"] / judged if judged else None

    def close(self):
        with self._cv:
            self._closing = True
        with self._shutdown_lock:
            self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
