"""Micro-batcher on queue.Queue: a blocking get for the first item, a sentinel for close()."""

from __future__ import annotations

import math
import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


def _bad(value, low):
    if isinstance(value, bool):
        return True
    try:
        return not (float(value) >= low)  # NaN fails every comparison
    except (TypeError, ValueError):
        return True


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if _bad(max_batch_size, 1):
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size!r}")
        if _bad(max_wait_s, 0):
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s!r}")
        if max_queue is not None and _bad(max_queue, 1):
            raise ValueError(f"max_queue must be >= 1, got {max_queue!r}")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = min(float(max_wait_s), threading.TIMEOUT_MAX)
        self.max_queue = max_queue
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="microbatcher")
        self._thread.start()

    # -- producer side
    def submit(self, item) -> Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("submit after close()")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull("queue is full")
            fut: Future = Future()
            self._waiting += 1
            self._q.put((item, fut))
        return fut

    def close(self) -> None:
        with self._lock:
            if self._closed:
                first = False
            else:
                self._closed = first = True
                self._q.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        del first

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return None

    # -- worker side
    def _took(self):
        with self._lock:
            self._waiting -= 1

    def _loop(self):
        stopping = False
        while not stopping:
            entry = self._q.get()
            if entry is _STOP:
                return
            self._took()
            batch = [entry]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                with self._lock:
                    closing = self._closed
                remaining = deadline - time.monotonic()
                try:
                    if closing or remaining <= 0:
                        entry = self._q.get_nowait()
                    else:
                        entry = self._q.get(timeout=min(remaining, threading.TIMEOUT_MAX))
                except queue.Empty:
                    if closing or deadline - time.monotonic() <= 0:
                        break
                    continue
                if entry is _STOP:
                    stopping = True
                    break
                self._took()
                batch.append(entry)
            self._answer(batch)

    def _answer(self, batch):
        items = [item for item, _ in batch]
        futures = [fut for _, fut in batch]
        try:
            results = self.predict_batch(items)
            results = list(results)
            if len(results) != len(items):
                raise ValueError(f"{len(results)} results for a batch of {len(items)}")
        except Exception as exc:  # noqa: BLE001
            for fut in futures:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(exc)
            return
        for fut, result in zip(futures, results):
            if fut.set_running_or_notify_cancel():
                fut.set_result(result)
