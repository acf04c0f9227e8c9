"""Micro-batcher built on queue.Queue: the worker blocks on get(timeout=...), close() wakes it
with a sentinel placed after every accepted item."""

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
            raise ValueError(f"max_batch_size={max_batch_size!r}: need at least 1")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s={max_wait_s!r}: need at least 0")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue={max_queue!r}: need at least 1, or None")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._q: queue.Queue = queue.Queue()  # unbounded: the bound is checked under _gate
        self._gate = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="microbatcher-worker", daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def submit(self, item) -> Future:
        future: Future = Future()
        with self._gate:
            if self._closed:
                raise RuntimeError("submit after close()")
            if self.max_queue is not None and self._q.qsize() >= self.max_queue:
                raise QueueFull("queue is full")
            self._q.put((item, future))
        return future

    def close(self) -> None:
        with self._gate:
            if not self._closed:
                self._closed = True
                self._q.put(_STOP)
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _next_batch(self):
        """(batch, stop): the batch to send (maybe empty) and whether the sentinel was seen."""
        first = self._q.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            try:
                entry = self._q.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    entry = self._q.get(timeout=min(remaining, threading.TIMEOUT_MAX))
                except queue.Empty:
                    break
            if entry is _STOP:
                return batch, True
            batch.append(entry)
        return batch, False

    def _loop(self):
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            if not batch:
                continue
            self._run(batch)

    def _run(self, batch):
        futures = [f for _, f in batch]
        try:
            out = self.predict_batch([x for x, _ in batch])
            results = list(out)
            if len(results) != len(futures):
                raise ValueError(f"{len(results)} results for a batch of {len(futures)}")
        except Exception as exc:  # noqa: BLE001
            for f in futures:
                if f.set_running_or_notify_cancel():  # False: its caller cancelled it
                    f.set_exception(exc)
            return
        for f, r in zip(futures, results):
            if f.set_running_or_notify_cancel():
                f.set_result(r)
