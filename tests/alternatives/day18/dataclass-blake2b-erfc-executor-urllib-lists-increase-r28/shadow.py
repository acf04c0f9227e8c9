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
        self._slots = threading.BoundedSemaphore(max_pending)
        self._tally = Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._tally_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._state_lock = threading.Lock()
        self._open = True

    def _count(self, key: str) -> None:
        with self._tally_lock:
            self._tally[key] += 1

    def _mirror(self, request: Any, answer: Any) -> None:
        try:
            try:
                verdict = bool(self.compare(answer, self.candidate(request)))
            except Exception:  # noqa: BLE001
                self._count("errors")
            else:
                self._count("agreed" if verdict else "disagreed")
        finally:
            self._slots.release()

    def handle(self, request: Any) -> Any:
        if not self._open:
            raise RuntimeError("handle() after close()")
        answer = self.stable(request)
        if not self._slots.acquire(blocking=False):
            self._count("dropped")
            return answer
        try:
            self._pool.submit(self._mirror, request, answer)
        except RuntimeError:  # closed meanwhile
            self._slots.release()
            raise
        return answer

    def stats(self) -> dict[str, int]:
        with self._tally_lock:
            return {k: self._tally[k] for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self) -> float | None:
        s = self.stats()
        compared = s["agreed"] + s["disagreed"]
        return s["agreed"] / compared if compared else None

    def close(self) -> None:
        with self._state_lock:
            self._open = False
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ShadowRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
