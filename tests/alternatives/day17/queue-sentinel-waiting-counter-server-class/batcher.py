"""Micro-batcher on queue.Queue with a sentinel for close(), and a counter of waiting items."""
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
        if not max_batch_size >= 1:
            raise ValueError("max_batch_size")
        if not max_wait_s >= 0:
            raise ValueError("max_wait_s")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._inbox: queue.Queue = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="batch-worker", daemon=True)
        self._worker.start()

    def submit(self, item) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("closed")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull()
            self._waiting += 1
            self._inbox.put((item, future))
        return future

    def _taken(self) -> None:
        with self._lock:
            self._waiting -= 1

    def _work(self) -> None:
        stopping = False
        while not stopping:
            entry = self._inbox.get()
            if entry is _STOP:
                return
            self._taken()
            batch = [entry]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    if remaining > 0:
                        entry = self._inbox.get(timeout=min(remaining, threading.TIMEOUT_MAX))
                    else:
                        entry = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                self._taken()
                batch.append(entry)
            self._send(batch)

    def _send(self, batch) -> None:
        items = [item for item, _ in batch]
        try:
            results = self.predict_batch(items)
            results = list(results)
            if len(results) != len(batch):
                raise ValueError("wrong number of results")
        except Exception as exc:  # noqa: BLE001
            outcome = [("exc", exc)] * len(batch)
        else:
            outcome = [("ok", r) for r in results]
        for (_, future), (kind, value) in zip(batch, outcome):
            if not future.set_running_or_notify_cancel():
                continue
            if kind == "ok":
                future.set_result(value)
            else:
                future.set_exception(value)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._inbox.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self) -> "MicroBatcher":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False
