"""A ThreadPoolExecutor with a pending counter guarded by a Condition."""
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
        if not (max_pending >= 1 and workers >= 1):
            raise ValueError("max_pending and workers must be >= 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self.max_pending = max_pending
        self._cond = threading.Condition()
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._pending = 0
        self._closing = False
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")

    def _mirror(self, request, answer):
        try:
            key = "agreed" if self.compare(answer, self.candidate(request)) else "disagreed"
        except Exception:
            key = "errors"
        with self._cond:
            self._tally[key] += 1
            self._pending -= 1
            self._cond.notify_all()

    def handle(self, request: Any) -> Any:
        with self._cond:
            if self._closing:
                raise RuntimeError("the router is closed")
        answer = self.stable(request)
        with self._cond:
            if self._closing or self._pending >= self.max_pending:
                self._tally["dropped"] += 1
            else:
                self._pending += 1
                self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        with self._cond:
            first = not self._closing
            self._closing = True
        if first:
            with self._cond:
                self._cond.wait_for(lambda: self._pending == 0)
            self._pool.shutdown(wait=True)
            self._closed.set()
        else:
            self._closed.wait()

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
