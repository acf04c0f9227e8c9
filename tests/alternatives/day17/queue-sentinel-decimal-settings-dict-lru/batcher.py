"""Micro-batcher on queue.Queue: a sentinel wakes the worker on close."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    """Too many items are waiting."""


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if not max_batch_size >= 1:
            raise ValueError("max_batch_size must be at least 1")
        if not max_wait_s >= 0:
            raise ValueError("max_wait_s must not be negative")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue must be at least 1")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._items: queue.Queue = queue.Queue()
        self._waiting = 0
        self._guard = threading.Lock()
        self._closing = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item) -> Future:
        future: Future = Future()
        with self._guard:
            if self._closing:
                raise RuntimeError("submit after close")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull("queue is full")
            self._waiting += 1
            self._items.put((item, future))
        return future

    def _take(self, timeout=None):
        entry = self._items.get(timeout=min(timeout, threading.TIMEOUT_MAX)) if timeout is not None else self._items.get()
        if entry is not _STOP:
            with self._guard:
                self._waiting -= 1
        return entry

    def _loop(self):
        stop_seen = False
        while True:
            if stop_seen:
                try:
                    first = self._items.get_nowait()
                except queue.Empty:
                    return
                with self._guard:
                    self._waiting -= 1
            else:
                first = self._take()
                if first is _STOP:
                    stop_seen = True
                    continue
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    if stop_seen:
                        entry = self._items.get_nowait()
                        with self._guard:
                            self._waiting -= 1
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining > 0:
                            entry = self._take(timeout=remaining)
                        else:
                            entry = self._items.get_nowait()
                            if entry is not _STOP:
                                with self._guard:
                                    self._waiting -= 1
                except queue.Empty:
                    break
                if entry is _STOP:
                    stop_seen = True
                    continue
                batch.append(entry)
            self._run_batch(batch)

    def _run_batch(self, batch):
        claimed = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not claimed:
            return
        items = [item for item, _ in claimed]
        try:
            results = self.predict_batch(items)
            if len(results) != len(items):
                raise ValueError("predict_batch returned the wrong number of results")
        except BaseException as exc:  # noqa: BLE001
            for _, future in claimed:
                future.set_exception(exc)
            return
        for (_, future), result in zip(claimed, results):
            future.set_result(result)

    def close(self):
        with self._guard:
            if self._closing:
                already = True
            else:
                already = False
                self._closing = True
                self._items.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
