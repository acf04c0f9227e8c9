"""Micro-batcher over queue.Queue, with a sentinel that wakes the worker on close()."""
from __future__ import annotations

import math
import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    pass


def _check(name, value, minimum):
    try:
        ok = not math.isnan(value) and value >= minimum
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        _check("max_batch_size", max_batch_size, 1)
        _check("max_wait_s", max_wait_s, 0)
        if max_queue is not None:
            _check("max_queue", max_queue, 1)
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
        with self._lock:
            if self._closed:
                raise RuntimeError("submit after close()")
            if self.max_queue is not None and self._q.qsize() >= self.max_queue:
                raise QueueFull("queue full")
            fut = Future()
            self._q.put((item, fut))
        return fut

    def _loop(self):
        stopping = False
        while True:
            if stopping:
                try:
                    first = self._q.get_nowait()
                except queue.Empty:
                    return
            else:
                first = self._q.get()
            if first is _STOP:
                stopping = True
                continue
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    if stopping:
                        nxt = self._q.get_nowait()
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            nxt = self._q.get_nowait()
                        else:
                            nxt = self._q.get(timeout=min(remaining, threading.TIMEOUT_MAX))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    continue
                batch.append(nxt)
            self._run(batch)

    def _run(self, batch):
        live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        items = [item for item, _ in live]
        try:
            results = self.predict_batch(items)
            if len(results) != len(items):
                raise ValueError("predict_batch returned a result of the wrong length")
        except Exception as exc:  # noqa: BLE001
            for _, fut in live:
                fut.set_exception(exc)
            return
        for (_, fut), res in zip(live, results):
            fut.set_result(res)

    def close(self):
        with self._lock:
            first = not self._closed
            self._closed = True
            if first:
                self._q.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
