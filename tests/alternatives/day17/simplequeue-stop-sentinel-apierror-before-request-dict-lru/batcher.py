from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


_STOP = object()


class MicroBatcher:
    """A SimpleQueue of (item, future) pairs, a stop sentinel and a waiting count under a lock."""

    def __init__(
        self,
        predict_batch: Callable[[list], Sequence],
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int | None = None,
    ) -> None:
        if not max_batch_size >= 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size!r}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s!r}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue!r}")
        self._predict_batch = predict_batch
        self._size = max_batch_size
        self._wait = max_wait_s
        self._limit = max_queue
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="batcher-worker", daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self._limit is not None and self._waiting >= self._limit:
                raise QueueFull("the queue is full")
            self._waiting += 1
            self._q.put((item, future))
        return future

    def _take(self, block: bool, timeout: float | None = None):
        try:
            entry = self._q.get(block, timeout)
        except queue.Empty:
            return None
        if entry is not _STOP:
            with self._lock:
                self._waiting -= 1
        return entry

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._take(True)
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._wait
            while len(batch) < self._size:
                entry = self._take(False)
                if entry is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    entry = self._take(True, min(remaining, threading.TIMEOUT_MAX))
                    if entry is None:
                        break
                if entry is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._answer(batch)

    def _answer(self, batch) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        items = [item for item, _ in live]
        try:
            results = self._predict_batch(items)
            if len(results) != len(items):
                raise ValueError(f"{len(results)} results for a batch of {len(items)}")
        except Exception as exc:  # noqa: BLE001
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), result in zip(live, results):
            future.set_result(result)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._q.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False
