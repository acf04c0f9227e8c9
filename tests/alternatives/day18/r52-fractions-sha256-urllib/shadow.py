"""Task 4: shadow traffic on a thread pool."""
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
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._mutex = threading.Lock()
        self._tally: Counter = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._in_flight = 0
        self._closing = False
        self._shutdown_once = threading.Lock()
        self._done = False

    def _mirror(self, request: Any, answer: Any) -> None:
        try:
            verdict = "agreed" if self.compare(answer, self.candidate(request)) else "disagreed"
        except Exception:
            verdict = "errors"
        finally:
            pass
        with self._mutex:
            self._tally[verdict] += 1
            self._in_flight -= 1

    def handle(self, request: Any) -> Any:
        with self._mutex:
            if self._closing:
                raise RuntimeError("router is closed")
        answer = self.stable(request)
        with self._mutex:
            if self._closing or self._in_flight >= self.max_pending:
                self._tally["dropped"] += 1
            else:
                self._in_flight += 1
                self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._mutex:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        with self._shutdown_once:
            if self._done:
                return
            with self._mutex:
                self._closing = True
            self._pool.shutdown(wait=True)
            self._done = True

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
