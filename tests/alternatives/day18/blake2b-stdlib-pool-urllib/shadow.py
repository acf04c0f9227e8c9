"""Task 4: shadow traffic on a ThreadPoolExecutor with a pending counter."""

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
            raise ValueError("max_pending must be >= 1")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.stable, self.candidate, self.compare = stable, candidate, compare
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mirror")
        self._guard = threading.Lock()
        self._tally = Counter()
        self._in_flight = 0
        self._open = True

    def _mirror(self, request: Any, stable_answer: Any) -> None:
        try:
            verdict = bool(self.compare(stable_answer, self.candidate(request)))
            key = "agreed" if verdict else "disagreed"
        except BaseException:
            key = "errors"
        finally:
            pass
        with self._guard:
            self._tally[key] += 1
            self._in_flight -= 1

    def handle(self, request: Any) -> Any:
        if not self._open:
            raise RuntimeError("the shadow router is closed")
        answer = self.stable(request)
        with self._guard:
            if self._in_flight >= self.max_pending:
                self._tally["dropped"] += 1
                return answer
            self._in_flight += 1
        self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._guard:
            return {key: self._tally[key] for key in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
