"""Micro-batcher on queue.Queue: the worker blocks on get(); close() wakes it with a sentinel."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    pass


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if not max_batch_size >= 1:
            raise ValueError("max_batch_size should be at least 1")
        if not max_wait_s >= 0:
            raise ValueError("max_wait_s should be at least 0")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue should be at least 1")
        self.predict_batch = predict_batch
        self.max_batch_size = int(max_batch_size)
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._items: queue.Queue = queue.Queue()
        self._guard = threading.Lock()
        self._closed = False
        self._stopping = False  # only the worker reads and writes it
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item):
        with self._guard:
            if self._closed:
                raise RuntimeError("submit after close()")
            if self.max_queue is not None and self._items.qsize() >= self.max_queue:
                raise QueueFull("the queue is full")
            future: Future = Future()
            self._items.put((item, future))
        return future

    def _next(self, timeout):
        """The next entry, or None; timeout None blocks, 0 never waits."""
        try:
            if timeout is None:
                return self._items.get()
            if timeout <= 0:
                return self._items.get_nowait()
            return self._items.get(timeout=min(timeout, threading.TIMEOUT_MAX))
        except queue.Empty:
            return None

    def _gather(self):
        first = self._next(0 if self._stopping else None)
        if first is None or first is _STOP:
            return None
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            wait = 0 if self._stopping else deadline - time.monotonic()
            entry = self._next(wait)
            if entry is None:
                break
            if entry is _STOP:
                self._stopping = True
                continue
            batch.append(entry)
        return batch

    def _loop(self):
        while True:
            batch = self._gather()
            if batch is None:
                return
            self._answer(batch)

    def _answer(self, batch):
        try:
            results = self.predict_batch([item for item, _ in batch])
            if len(results) != len(batch):
                raise ValueError("predict_batch gave the wrong number of results")
        except Exception as error:  # noqa: BLE001
            for _, future in batch:
                if future.set_running_or_notify_cancel():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results):
            if future.set_running_or_notify_cancel():
                future.set_result(result)

    def close(self):
        with self._guard:
            if not self._closed:
                self._closed = True
                self._items.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
