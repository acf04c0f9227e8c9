"""Micro-batcher: a deque guarded by one Condition, one daemon worker."""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import Future


class QueueFull(Exception):
    """max_queue items are already waiting."""


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if not (max_batch_size >= 1):
            raise ValueError("max_batch_size must be >= 1")
        if not (max_wait_s >= 0):
            raise ValueError("max_wait_s must be >= 0")
        if max_queue is not None and not (max_queue >= 1):
            raise ValueError("max_queue must be >= 1")
        self._predict = predict_batch
        self._max = max_batch_size
        self._wait = float(max_wait_s)
        self._max_queue = max_queue
        self._queue = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, item):
        with self._cv:
            if self._closed:
                raise RuntimeError("batcher is closed")
            if self._max_queue is not None and len(self._queue) >= self._max_queue:
                raise QueueFull(f"{self._max_queue} items already waiting")
            future = Future()
            self._queue.append((item, future))
            self._cv.notify()
            return future

    def _collect(self):
        with self._cv:
            while not self._queue and not self._closed:
                self._cv.wait()
            if not self._queue:
                return None
            batch = [self._queue.popleft()]
            deadline = time.monotonic() + self._wait
            while len(batch) < self._max:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                if self._closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or math.isnan(remaining):
                    break
                self._cv.wait(min(remaining, threading.TIMEOUT_MAX))
            return batch

    def _run(self):
        while True:
            batch = self._collect()
            if batch is None:
                return
            items = [item for item, _ in batch]
            futures = [future for _, future in batch]
            try:
                results = list(self._predict(items))
                if len(results) != len(items):
                    raise ValueError(f"predict_batch returned {len(results)} results for {len(items)} items")
            except BaseException as exc:  # noqa: BLE001
                for future in futures:
                    if future.set_running_or_notify_cancel():
                        future.set_exception(exc)
                continue
            for future, result in zip(futures, results):
                if future.set_running_or_notify_cancel():
                    future.set_result(result)

    def close(self):
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
