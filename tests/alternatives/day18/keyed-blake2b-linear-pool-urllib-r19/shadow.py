"""Task 4 on a ThreadPoolExecutor with a pending counter under a Condition."""
from __future__ import annotations

import operator
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending: int = 100,
                 workers: int = 2) -> None:
        if not (max_pending >= 1 and workers >= 1):
            raise ValueError("max_pending and workers must be at least 1")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._cap = max_pending
        self._cond = threading.Condition()
        self._pending = 0
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._closed = False

    def _mirror(self, request: Any, answer: Any) -> None:
        key = "errors"
        try:
            key = "agreed" if bool(self._compare(answer, self._candidate(request))) else "disagreed"
        except BaseException:
            key = "errors"
        finally:
            with self._cond:
                self._tally[key] += 1
                self._pending -= 1
                self._cond.notify_all()

    def handle(self, request: Any) -> Any:
        if self._closed:
            raise RuntimeError("router closed")
        answer = self._stable(request)
        with self._cond:
            if self._closed:
                raise RuntimeError("router closed")
            if self._pending >= self._cap:
                self._tally["dropped"] += 1
                return answer
            self._pending += 1
            self._pool.submit(self._mirror, request, answer)
        return answer

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {k: int(self._tally[k]) for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        done = s["agreed"] + s["disagreed"]
        return s["agreed"] / done if done else None

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
