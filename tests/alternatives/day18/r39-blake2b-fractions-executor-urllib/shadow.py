"""Task 4, alt style: a ThreadPoolExecutor, futures with done-callbacks, a Condition-guarded counter."""

from __future__ import annotations

import operator
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if not (max_pending >= 1 and workers >= 1):
            raise ValueError("max_pending and workers must be at least 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._limit = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._guard = threading.Lock()
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._in_flight = 0
        self._closing = False
        self._closed_event = threading.Event()

    def _mirror(self, request, answer):
        try:
            verdict = "agreed" if bool(self._compare(answer, self._candidate(request))) else "disagreed"
        except BaseException:  # noqa: BLE001 - the candidate's trouble is never the caller's
            verdict = "errors"
        with self._guard:
            self._tally[verdict] += 1
            self._in_flight -= 1

    def handle(self, request):
        with self._guard:
            if self._closing:
                raise RuntimeError("the shadow router is closed")
        answer = self._stable(request)
        with self._guard:
            if self._closing or self._in_flight >= self._limit:
                self._tally["dropped"] += 1
            else:
                self._in_flight += 1
                self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self):
        with self._guard:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self):
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self):
        with self._guard:
            if self._closing:
                return
            self._closing = True
        self._pool.shutdown(wait=True)
        self._closed_event.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
