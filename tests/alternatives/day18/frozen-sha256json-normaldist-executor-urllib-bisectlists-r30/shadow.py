"""Shadow traffic on a ThreadPoolExecutor with a pending counter."""

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
        self._guard = threading.Lock()
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._in_flight = 0
        self._closing = False

    def _mirror(self, request, answer):
        try:
            verdict = bool(self.compare(answer, self.candidate(request)))
            key = "agreed" if verdict else "disagreed"
        except Exception:  # noqa: BLE001 - a shadow never fails the user
            key = "errors"
        with self._guard:
            self._tally[key] += 1
            self._in_flight -= 1

    def handle(self, request: Any) -> Any:
        with self._guard:
            if self._closing:
                raise RuntimeError("closed")
        answer = self.stable(request)
        with self._guard:
            if self._closing or self._in_flight >= self.max_pending:
                self._tally["dropped"] += 1
                return answer
            self._in_flight += 1
            self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._guard:
            return {k: self._tally[k] for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        n = s["agreed"] + s["disagreed"]
        return s["agreed"] / n if n else None

    def close(self) -> None:
        with self._guard:
            first = not self._closing
            self._closing = True
        if first:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
