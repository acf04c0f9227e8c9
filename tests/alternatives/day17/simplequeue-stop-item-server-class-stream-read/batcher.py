"""A micro-batcher on queue.SimpleQueue: a sentinel wakes the worker on close()."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()  # the item close() queues: the worker stops when it takes it


class QueueFull(Exception):
    """Too many items are waiting."""


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        for name, value, low in (("max_batch_size", max_batch_size, 1), ("max_wait_s", max_wait_s, 0)):
            if not value >= low:  # NaN fails every comparison
                raise ValueError(f"{name} must be at least {low}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue must be at least 1")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._guard = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._worker = threading.Thread(target=self._serve, daemon=True, name="batcher-worker")
        self._worker.start()

    # -- submitters -----------------------------------------------------------------------
    def submit(self, item) -> Future:
        with self._guard:
            if self._closed:
                raise RuntimeError("closed")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull()
            self._waiting += 1
            future = Future()
            self._inbox.put((item, future))
        return future

    def close(self) -> None:
        with self._guard:
            first = not self._closed
            self._closed = True
            if first:
                self._inbox.put((_STOP, None))
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    # -- the worker -------------------------------------------------------------------------
    def _take(self, timeout=None):
        """The next entry; None when nothing came in time."""
        try:
            if timeout is None:
                entry = self._inbox.get()
            elif timeout <= 0:
                entry = self._inbox.get_nowait()
            else:
                entry = self._inbox.get(timeout=min(timeout, threading.TIMEOUT_MAX))
        except queue.Empty:
            return None
        if entry[0] is not _STOP:
            with self._guard:
                self._waiting -= 1
        return entry

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            entry = self._take()
            if entry[0] is _STOP:
                return
            batch = [entry]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                entry = self._take(deadline - time.monotonic())
                if entry is None:
                    break
                if entry[0] is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._dispatch(batch)

    def _dispatch(self, batch) -> None:
        claimed = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
        if not claimed:
            return
        try:
            results = self.predict_batch([item for item, _ in claimed])
            results = list(results)
            if len(results) != len(claimed):
                raise ValueError("wrong number of results")
        except Exception as exc:  # noqa: BLE001
            for _, fut in claimed:
                fut.set_exception(exc)
            return
        for (_, fut), result in zip(claimed, results):
            fut.set_result(result)
