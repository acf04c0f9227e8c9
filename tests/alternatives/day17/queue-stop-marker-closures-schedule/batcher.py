"""Micro-batcher built on queue.Queue: a sentinel wakes the worker on close, and a counter
under a lock tracks how many submitted items are still waiting in the queue."""

import queue
import threading
import time
from concurrent.futures import Future

_STOP = object()


class QueueFull(Exception):
    pass


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        if not max_batch_size >= 1:
            raise ValueError("max_batch_size must be at least 1")
        if not max_wait_s >= 0:
            raise ValueError("max_wait_s must be at least 0")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue must be at least 1")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._q = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="MicroBatcher-worker")
        self._thread.start()

    def submit(self, item):
        fut = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull("queue full")
            self._waiting += 1
            self._q.put((item, fut))
        return fut

    def _take(self, block=True, timeout=None):
        entry = self._q.get(block, timeout)
        if entry is not _STOP:
            with self._lock:
                self._waiting -= 1
        return entry

    def _loop(self):
        stopping = False
        while not stopping:
            first = self._take()  # blocks while idle
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    if remaining > 0:
                        entry = self._take(timeout=min(remaining, threading.TIMEOUT_MAX))
                    else:
                        entry = self._take(block=False)
                except queue.Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._run_batch(batch)

    def _run_batch(self, batch):
        items = [item for item, _ in batch]
        try:
            results = self.predict_batch(items)
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for a batch of {len(batch)}")
        except Exception as exc:
            for _, fut in batch:
                if fut.set_running_or_notify_cancel():  # False: its caller cancelled it
                    fut.set_exception(exc)
            return
        for (_, fut), result in zip(batch, results):
            if fut.set_running_or_notify_cancel():
                fut.set_result(result)

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._q.put(_STOP)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
