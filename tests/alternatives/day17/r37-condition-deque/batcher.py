"""A micro-batcher built on one Condition and a deque."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future


class QueueFull(Exception):
    """max_queue items already wait."""


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
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
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, item):
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._max_queue is not None and len(self._queue) >= self._max_queue:
                raise QueueFull(f"{len(self._queue)} items are waiting")
            future = Future()
            self._queue.append((item, future))
            self._cond.notify()
            return future

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _collect(self):
        """The next batch, or None once closed and empty. Called with the condition held."""
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

    def _work(self):
        while True:
            with self._cond:
                batch = self._collect()
            if batch is None:
                return
            live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
            if not live:
                continue
            items = [item for item, _ in live]
            try:
                results = list(self._predict_batch(items))
                if len(results) != len(items):
                    raise ValueError(f"predict_batch returned {len(results)} results for {len(items)} items")
            except Exception as error:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in live:
                    future.set_exception(error)
                continue
            for (_, future), result in zip(live, results):
                future.set_result(result)
