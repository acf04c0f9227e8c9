"""Micro-batcher built on queue.Queue: a sentinel wakes the worker on close()."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    """The bounded queue is full."""


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if not max_batch_size >= 1 or not max_wait_s >= 0 or (max_queue is not None and not max_queue >= 1):
            raise ValueError("max_batch_size >= 1, max_wait_s >= 0 and max_queue >= 1 (or None) are required")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._items: queue.Queue = queue.Queue()
        self._gate = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item):
        with self._gate:
            if self._closing:
                raise RuntimeError("closed")
            if self.max_queue is not None and self._items.qsize() >= self.max_queue:
                raise QueueFull("queue full")
            fut: Future = Future()
            self._items.put((item, fut))
            return fut

    def _next(self, deadline):
        """The next pair, or None once nothing more belongs in this batch; _STOP when closing is seen."""
        if self._closing:
            try:
                return self._items.get_nowait()
            except queue.Empty:
                return None
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                return self._items.get_nowait()
            if remaining > threading.TIMEOUT_MAX:
                return self._items.get()
            return self._items.get(timeout=remaining)
        except queue.Empty:
            return None

    def _loop(self):
        stopping = False
        while not stopping:
            first = self._items.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                pair = self._next(deadline)
                if pair is None:
                    break
                if pair is _STOP:
                    stopping = True
                    break
                batch.append(pair)
            self._dispatch(batch)

    def _dispatch(self, batch):
        items = [item for item, _ in batch]
        try:
            out = self.predict_batch(items)
            out = list(out)
            if len(out) != len(items):
                raise ValueError("predict_batch returned the wrong number of results")
            outcome = [(True, r) for r in out]
        except Exception as exc:  # noqa: BLE001
            outcome = [(False, exc)] * len(items)
        for (_, fut), (ok, value) in zip(batch, outcome):
            if not fut.set_running_or_notify_cancel():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def close(self):
        with self._gate:
            if not self._closing:
                self._closing = True
                self._items.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
