"""Micro-batcher over queue.Queue: the worker takes items out as it collects them, and a
sentinel wakes it for close()."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


_STOP = object()


class MicroBatcher:
    def __init__(self, predict_batch: Callable[[list], Sequence], max_batch_size: int, max_wait_s: float,
                 max_queue: int | None = None) -> None:
        if not max_batch_size >= 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be at least 0, got {max_wait_s}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._max_queue = max_queue
        self._pending: queue.Queue = queue.Queue()
        self._waiting = 0  # items in _pending, sentinel excluded
        self._gate = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="batch-worker", daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> Future:
        with self._gate:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self._max_queue is not None and self._waiting >= self._max_queue:
                raise QueueFull("the queue is full")
            future: Future = Future()
            self._waiting += 1
            self._pending.put((item, future))
        return future

    def _take(self, block: bool, timeout: float | None = None):
        entry = self._pending.get(block, timeout)
        if entry is not _STOP:
            with self._gate:
                self._waiting -= 1
        return entry

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._take(True)
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    entry = self._take(False)
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        entry = self._take(True, min(remaining, threading.TIMEOUT_MAX))
                    except queue.Empty:
                        break
                if entry is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._run(batch)
        # the sentinel came last: everything submitted before close() has been answered

    def _run(self, batch: list) -> None:
        items = [item for item, _ in batch]
        try:
            results = self.predict_batch(items)
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for a batch of {len(batch)}")
        except Exception as exc:  # noqa: BLE001
            for _, future in batch:
                self._settle(future, future.set_exception, exc)
            return
        for (_, future), result in zip(batch, results):
            self._settle(future, future.set_result, result)

    @staticmethod
    def _settle(future: Future, setter, value) -> None:
        try:
            setter(value)
        except InvalidStateError:  # the caller cancelled it: nobody waits for this answer
            pass

    def close(self) -> None:
        with self._gate:
            if not self._closed:
                self._closed = True
                self._pending.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False
