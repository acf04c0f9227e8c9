"""Micro-batcher on an asyncio event loop that runs in its own thread.

Submitters hand items to the loop with call_soon_threadsafe; a coroutine collects them from an
asyncio.Queue with asyncio.wait_for deadlines. A thread lock keeps the count of waiting items
and the closed flag, so QueueFull and RuntimeError are decided synchronously in submit().
"""

from __future__ import annotations

import asyncio
import threading
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
            raise ValueError("max_batch_size must be >= 1")
        if not max_wait_s >= 0:
            raise ValueError("max_wait_s must be >= 0")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError("max_queue must be >= 1 or None")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="batcher-loop", daemon=True)
        self._thread.start()
        started.wait()

    # -- the loop's thread ------------------------------------------------------------------
    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        started.set()
        try:
            self._loop.run_until_complete(self._worker())
        finally:
            self._loop.close()

    def _taken(self) -> None:
        with self._lock:
            self._waiting -= 1

    async def _worker(self) -> None:
        queue = self._queue
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is _STOP:
                return
            self._taken()
            batch = [first]
            deadline = self._loop.time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    entry = queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - self._loop.time()
                    if remaining <= 0:
                        break
                    try:
                        entry = await asyncio.wait_for(queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if entry is _STOP:
                    stopping = True
                    break
                self._taken()
                batch.append(entry)
            self._answer(batch)

    def _answer(self, batch: list[tuple[Any, Future]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = list(self.predict_batch(items))
            if len(results) != len(items):
                raise ValueError(f"{len(results)} results for a batch of {len(items)}")
        except Exception as exc:  # noqa: BLE001
            for _, future in batch:
                if future.set_running_or_notify_cancel():  # False: its caller cancelled it
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results):
            if future.set_running_or_notify_cancel():
                future.set_result(result)

    # -- any thread ---------------------------------------------------------------------------
    def submit(self, item: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after close()")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull("the queue is full")
            self._waiting += 1
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (item, future))
        return future

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._loop.call_soon_threadsafe(self._queue.put_nowait, _STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
