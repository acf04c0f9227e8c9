"""Task 1: a micro-batcher built on a Condition and a deque."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


def _wait_cap(seconds: float) -> float:
    return min(seconds, threading.TIMEOUT_MAX)


class MicroBatcher:
    """Collects submitted items into batches for one call of `predict_batch` each."""

    def __init__(self, predict_batch: Callable[[list], Sequence], max_batch_size: int, max_wait_s: float,
                 max_queue: int | None = None) -> None:
        if not max_batch_size >= 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size!r}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s!r}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue must be >= 1 or None, got {max_queue!r}")
        self._predict_batch = predict_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._max_queue = max_queue
        self._queue: deque[tuple[Any, Future]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._worker.start()

    def submit(self, item: Any) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._max_queue is not None and len(self._queue) >= self._max_queue:
                raise QueueFull(f"{len(self._queue)} items are already waiting")
            self._queue.append((item, future))
            self._cond.notify()
        return future

    def _collect(self) -> list[tuple[Any, Future]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None  # closed and drained
            batch = [self._queue.popleft()]
            deadline = time.monotonic() + self._max_wait_s
            while len(batch) < self._max_batch_size:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                if self._closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(_wait_cap(remaining))
            return batch

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            items = [item for item, _ in batch]
            futures = [future for _, future in batch]
            try:
                results = self._predict_batch(items)
                results = list(results)
                if len(results) != len(items):
                    raise ValueError(f"predict_batch returned {len(results)} results for {len(items)} items")
            except BaseException as error:  # noqa: BLE001 - every future gets the batch's error
                for future in futures:
                    if future.set_running_or_notify_cancel():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for future, result in zip(futures, results):
                if future.set_running_or_notify_cancel():
                    future.set_result(result)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
