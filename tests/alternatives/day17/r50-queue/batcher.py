"""Micro-batcher on queue.Queue: a sentinel wakes the worker on close."""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    pass


def _check(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return
    if value != value or value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        _check("max_batch_size", max_batch_size, 1)
        _check("max_wait_s", max_wait_s, 0)
        _check("max_queue", max_queue, 1, allow_none=True)
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, daemon=True)
        self._worker.start()

    def submit(self, item):
        fut = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("submit after close")
            if self.max_queue is not None and self._q.qsize() >= self.max_queue:
                raise QueueFull("queue is full")
            self._q.put((item, fut))
        return fut

    def _loop(self):
        stopping = False
        while not stopping:
            first = self._q.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    if remaining > 0:
                        nxt = self._q.get(timeout=min(remaining, threading.TIMEOUT_MAX))
                    else:
                        nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._dispatch(batch)

    def _dispatch(self, batch):
        items = [entry[0] for entry in batch]
        try:
            out = self.predict_batch(items)
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
        with self._lock:
            if self._closed:
                first_close = False
            else:
                self._closed = True
                first_close = True
                self._q.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
