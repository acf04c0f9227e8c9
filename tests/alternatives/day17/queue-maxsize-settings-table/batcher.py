"""Micro-batcher built on queue.Queue: its maxsize is the bound, a sentinel ends the worker."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

_STOP = object()


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


class MicroBatcher:
    def __init__(self, predict_batch: Callable[[list], Sequence], max_batch_size: int, max_wait_s: float,
                 max_queue: int | None = None) -> None:
        if not max_batch_size >= 1:
            raise ValueError("max_batch_size must be at least 1")
        if not max_wait_s >= 0:
            raise ValueError("max_wait_s must not be negative")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue must be at least 1")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        # The worker takes items out as it collects them, so qsize() is what waits. The
        # sentinel may need one slot more than max_queue: close() blocks for it if need be.
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue or 0)
        self._submit_lock = threading.Lock()  # orders "closed?" + put against close()'s sentinel
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> Future:
        with self._submit_lock:
            if self._closed:
                raise RuntimeError("submit() after close()")
            future: Future = Future()
            try:
                self._queue.put_nowait((item, future))
            except queue.Full:
                raise QueueFull("the queue is full") from None
        return future

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            entry = self._queue.get()
            if entry is _STOP:
                return
            batch = [entry]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    remaining = deadline - time.monotonic()
                    entry = self._queue.get(timeout=min(remaining, threading.TIMEOUT_MAX)) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._answer(batch)

    def _answer(self, batch) -> None:
        try:
            results = self.predict_batch([item for item, _ in batch])
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for a batch of {len(batch)}")
            results = list(results)
        except Exception as exc:  # noqa: BLE001
            for _, future in batch:
                if future.set_running_or_notify_cancel():  # False: its caller cancelled it
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results):
            if future.set_running_or_notify_cancel():
                future.set_result(result)

    def close(self) -> None:
        with self._submit_lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)  # after every accepted item; blocks only while the queue is full
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
