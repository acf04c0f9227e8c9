"""Task 1: a micro-batcher on queue.Queue, woken by a sentinel at close()."""

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
    def __init__(self, predict_batch: Callable[[list], Sequence], max_batch_size: int, max_wait_s: float,
                 max_queue: int | None = None) -> None:
        checks = (("max_batch_size", max_batch_size, 1), ("max_wait_s", max_wait_s, 0))
        for name, value, low in checks:
            if not value >= low:
                raise ValueError(f"{name} must be at least {low}, got {value!r}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue!r}")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting = 0  # items in the inbox, the sentinel not counted
        self._gate = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="batcher-worker")
        self._thread.start()

    def submit(self, item: Any) -> Future:
        with self._gate:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull(f"{self._waiting} items waiting (max_queue={self.max_queue})")
            future: Future = Future()
            self._waiting += 1
            self._inbox.put((item, future))
        return future

    def _take(self, timeout: float | None):
        """The next entry, blocking up to `timeout` (None: forever); raises queue.Empty."""
        if timeout is None:
            entry = self._inbox.get()
        elif timeout <= 0:
            entry = self._inbox.get_nowait()
        else:
            entry = self._inbox.get(timeout=min(timeout, threading.TIMEOUT_MAX))
        if entry is not _STOP:
            with self._gate:
                self._waiting -= 1
        return entry

    def _loop(self) -> None:
        stopping = False
        while True:
            if stopping:
                try:
                    first = self._take(0)
                except queue.Empty:
                    return
            else:
                first = self._take(None)
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    entry = self._take(0 if stopping else deadline - time.monotonic())
                except queue.Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    continue
                batch.append(entry)
            self._answer(batch)

    def _answer(self, batch: list) -> None:
        items = [item for item, _ in batch]
        try:
            results = list(self.predict_batch(items))
            if len(results) != len(items):
                raise ValueError(f"expected {len(items)} results, got {len(results)}")
        except Exception as exc:  # noqa: BLE001
            outcome = [(future, None, exc) for _, future in batch]
        else:
            outcome = [(future, result, None) for (_, future), result in zip(batch, results)]
        for future, result, exc in outcome:
            if not future.set_running_or_notify_cancel():
                continue
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def close(self) -> None:
        with self._gate:
            if not self._closed:
                self._closed = True
                self._inbox.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False
