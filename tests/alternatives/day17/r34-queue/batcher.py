"""Micro-batcher on queue.SimpleQueue with a stop sentinel; a lock guards counting and closing."""
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
        for name, value, low in (("max_batch_size", max_batch_size, 1), ("max_wait_s", max_wait_s, 0)):
            if not value >= low:
                raise ValueError(f"{name} must be >= {low}, got {value!r}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue!r}")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item):
        future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("closed")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull("queue full")
            self._waiting += 1
            self._q.put((item, future))
        return future

    def _take(self, block, timeout=None):
        got = self._q.get(block, timeout) if block else self._q.get_nowait()
        if got is _STOP:
            self._stopping = True
            return None
        with self._lock:
            self._waiting -= 1
        return got

    def _loop(self):
        while not self._stopping:
            first = self._take(True)
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size and not self._stopping:
                try:
                    if self._stopping:
                        got = self._take(False)
                    else:
                        left = deadline - time.monotonic()
                        got = self._take(False) if left <= 0 else self._take(True, min(left, threading.TIMEOUT_MAX))
                except queue.Empty:
                    break
                if got is None:
                    break
                batch.append(got)
            self._answer(batch)

    def _answer(self, batch):
        futures = [f for _, f in batch]
        try:
            out = self.predict_batch([i for i, _ in batch])
            out = list(out)
            if len(out) != len(batch):
                raise ValueError("wrong number of results")
        except Exception as exc:
            for f in futures:
                if f.set_running_or_notify_cancel():
                    f.set_exception(exc)
            return
        for f, r in zip(futures, out):
            if f.set_running_or_notify_cancel():
                f.set_result(r)

    def close(self):
        with self._lock:
            first = not self._closed
            self._closed = True
            if first:
                self._q.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return None
