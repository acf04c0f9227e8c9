"""A micro-batcher on queue.SimpleQueue: the worker blocks on get(); close() sends a sentinel."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

_STOP = object()


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


class MicroBatcher:
    """Collects submitted items into batches for one call of `predict_batch` each."""

    def __init__(self, predict_batch: Callable[[list], Sequence], max_batch_size: int, max_wait_s: float,
                 max_queue: int | None = None) -> None:
        problems = []
        if not max_batch_size >= 1:
            problems.append("max_batch_size < 1")
        if not max_wait_s >= 0:
            problems.append("max_wait_s < 0")
        if max_queue is not None and not max_queue >= 1:
            problems.append("max_queue < 1")
        if problems:
            raise ValueError(", ".join(problems))
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0  # submitted, not yet taken by the worker
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull(f"{self._waiting} items waiting (max_queue={self.max_queue})")
            self._waiting += 1
            self._inbox.put((item, future))
        return future

    def _take(self, timeout: float | None):
        """The next entry; None when nothing came in time. Raises queue.Empty never."""
        try:
            if timeout is None:
                entry = self._inbox.get()
            elif timeout <= 0:
                entry = self._inbox.get_nowait()
            else:
                entry = self._inbox.get(timeout=min(timeout, threading.TIMEOUT_MAX))
        except queue.Empty:
            return None
        if entry is not _STOP:
            with self._lock:
                self._waiting -= 1
        return entry

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._take(None)
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                entry = self._take(deadline - time.monotonic())
                if entry is None:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._answer(batch)

    def _answer(self, batch: list) -> None:
        items = [item for item, _ in batch]
        try:
            results = self.predict_batch(items)
            if len(results) != len(items):
                raise ValueError(f"{len(results)} results for a batch of {len(items)}")
        except Exception as exc:  # noqa: BLE001
            for _, future in batch:
                if future.set_running_or_notify_cancel():  # False: its caller cancelled it
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results):
            if future.set_running_or_notify_cancel():
                future.set_result(result)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._inbox.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
