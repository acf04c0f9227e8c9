"""Micro-batcher: a deque guarded by one Condition, one daemon worker."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


def _at_least(name: str, value: Any, minimum: float) -> None:
    try:
        ok = value >= minimum
    except TypeError:
        ok = False
    if not ok:  # NaN compares false too
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


class MicroBatcher:
    def __init__(self, predict_batch: Callable[[list], Sequence], max_batch_size: int,
                 max_wait_s: float, max_queue: int | None = None) -> None:
        _at_least("max_batch_size", max_batch_size, 1)
        _at_least("max_wait_s", max_wait_s, 0)
        if max_queue is not None:
            _at_least("max_queue", max_queue, 1)
        self._predict_batch = predict_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = float(max_wait_s)
        self._max_queue = max_queue
        self._queue: deque[tuple[Any, Future]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("batcher is closed")
            if self._max_queue is not None and len(self._queue) >= self._max_queue:
                raise QueueFull(f"{len(self._queue)} items already waiting")
            self._queue.append((item, future))
            self._cond.notify()
        return future

    def _collect(self) -> list[tuple[Any, Future]] | None:
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
                if self._closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, threading.TIMEOUT_MAX))
            return batch

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            items = [item for item, _ in batch]
            try:
                results = list(self._predict_batch(items))
                if len(results) != len(items):
                    raise ValueError(f"predict_batch returned {len(results)} results for {len(items)} items")
            except Exception as exc:  # noqa: BLE001
                for _, future in batch:
                    if future.set_running_or_notify_cancel():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if future.set_running_or_notify_cancel():
                    future.set_result(result)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
