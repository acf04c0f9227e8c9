"""Micro-batcher on queue.Queue: the worker get()s items out as it collects them and a
private sentinel, put by close(), wakes it and marks the end of what was accepted."""

from __future__ import annotations

import math
import numbers
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

_STOP = object()


class QueueFull(Exception):
    """`max_queue` items are already waiting."""


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        checks = [("max_batch_size", max_batch_size, 1), ("max_wait_s", max_wait_s, 0)]
        if max_queue is not None:
            checks.append(("max_queue", max_queue, 1))
        for name, value, low in checks:
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < low:
                raise ValueError(f"bad {name}: {value!r}")
        self._fn = predict_batch
        self._size = max_batch_size
        self._wait = max_wait_s
        self._limit = max_queue
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, daemon=True)
        self._worker.start()

    def submit(self, item: Any) -> Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("closed")
            if self._limit is not None and self._q.qsize() >= self._limit:
                raise QueueFull()
            fut: Future = Future()
            self._q.put((item, fut))
        return fut

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._q.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._wait
            while len(batch) < self._size:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        nxt = self._q.get(timeout=min(left, threading.TIMEOUT_MAX / 2))
                    except queue.Empty:
                        continue
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_batch(self, batch) -> None:
        items = [item for item, _ in batch]
        futures = [fut for _, fut in batch]
        try:
            out = self._fn(items)
            out = list(out)
            if len(out) != len(futures):
                raise ValueError("result length differs from batch length")
        except Exception as exc:  # noqa: BLE001
            for fut in futures:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(exc)
            return
        for fut, value in zip(futures, out):
            if fut.set_running_or_notify_cancel():
                fut.set_result(value)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._q.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
