"""Micro-batcher built on queue.SimpleQueue with a stop sentinel."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()
_LONGEST_WAIT = threading.TIMEOUT_MAX / 4


class QueueFull(Exception):
    """Too many items are waiting."""


def _claim(future: Future) -> bool:
    return future.set_running_or_notify_cancel()


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if not max_batch_size >= 1:
            raise ValueError(f"max_batch_size={max_batch_size!r}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s={max_wait_s!r}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue={max_queue!r}")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._inbox: queue.Queue = queue.Queue()
        self._gate = threading.Lock()  # guards closed + the bound check + put
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item) -> Future:
        with self._gate:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self.max_queue is not None and self._inbox.qsize() >= self.max_queue:
                raise QueueFull()
            future: Future = Future()
            self._inbox.put((item, future))
            return future

    def _gather(self, first):
        """Returns (batch, stop_seen)."""
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            try:
                entry = self._inbox.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return batch, False
                try:
                    entry = self._inbox.get(timeout=min(remaining, _LONGEST_WAIT))
                except queue.Empty:
                    return batch, False
            if entry is _STOP:
                return batch, True
            batch.append(entry)
        return batch, False

    def _answer(self, batch):
        items = [item for item, _ in batch]
        try:
            results = self.predict_batch(items)
            if len(results) != len(items):
                raise ValueError("wrong number of results")
        except Exception as error:  # noqa: BLE001
            for _, future in batch:
                if _claim(future):
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results):
            if _claim(future):
                future.set_result(result)

    def _loop(self):
        while True:
            first = self._inbox.get()
            if first is _STOP:
                return
            batch, stop = self._gather(first)
            self._answer(batch)
            if stop:
                return

    def close(self):
        with self._gate:
            if not self._closed:
                self._closed = True
                self._inbox.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
