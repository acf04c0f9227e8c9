"""Task 4 with a ThreadPoolExecutor and a Condition-guarded pending counter."""
from __future__ import annotations

import operator
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ShadowRouter:
    def __init__(self, stable: Callable[[Any], Any], candidate: Callable[[Any], Any], *,
                 compare: Callable[[Any, Any], bool] = operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        if not (isinstance(max_pending, int) and max_pending >= 1):
            raise ValueError("max_pending >= 1")
        if not (isinstance(workers, int) and workers >= 1):
            raise ValueError("workers >= 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._cond = threading.Condition()
        self._tally: Counter = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._inflight = 0
        self._closing = False
        self._closed_done = False

    def handle(self, request: Any) -> Any:
        with self._cond:
            if self._closing:
                raise RuntimeError("router is closing")
        answer = self.stable(request)
        with self._cond:
            if self._closing or self._inflight >= self.max_pending:
                self._tally["dropped"] += 1
                return answer
            self._inflight += 1
        try:
            self._pool.submit(self._mirror, request, answer)
        except RuntimeError:
            with self._cond:
                self._inflight -= 1
                self._tally["dropped"] += 1
                self._cond.notify_all()
        return answer

    def _mirror(self, request: Any, answer: Any) -> None:
        try:
            verdict = self.compare(answer, self.candidate(request))
            key = "agreed" if verdict else "disagreed"
        except Exception:
            key = "errors"
        with self._cond:
            self._tally[key] += 1
            self._inflight -= 1
            self._cond.notify_all()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        seen = s["agreed"] + s["disagreed"]
        return s["agreed"] / seen if seen else None

    def close(self) -> None:
        with self._cond:
            if self._closing:
                return
            self._closing = True
        self._pool.shutdown(wait=True)
        with self._cond:
            while self._inflight:
                self._cond.wait()
            self._closed_done = True

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
