"""Micro-batcher: a deque guarded by a Condition, one daemon worker thread."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


def _check(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(number) or number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None) -> None:
        _check("max_batch_size", max_batch_size, 1)
        _check("max_wait_s", max_wait_s, 0)
        _check("max_queue", max_queue, 1, allow_none=True)
        self._predict_batch = predict_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = float(max_wait_s)
        self._max_queue = max_queue
        self._queue: deque = deque()
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
                raise QueueFull(f"{len(self._queue)} items already waiting")
            self._queue.append((item, future))
            self._cond.notify()
        return future

    def _collect(self):
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            batch = [self._queue.popleft()]
            deadline = time.monotonic() + self._max_wait_s
            while len(batch) < self._max_batch_size:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    break
                self._cond.wait(min(remaining, threading.TIMEOUT_MAX))
            return batch

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            items = [item for item, _ in batch]
            futures = [future for _, future in batch]
            try:
                results = list(self._predict_batch(items))
                if len(results) != len(items):
                    raise ValueError(f"predict_batch returned {len(results)} results for {len(items)} items")
            except Exception as error:  # noqa: BLE001
                for future in futures:
                    if future.set_running_or_notify_cancel():
                        future.set_exception(error)
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

    def __enter__(self) -> "MicroBatcher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
