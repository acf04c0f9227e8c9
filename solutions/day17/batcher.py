"""Day 17 reference answer: a micro-batcher that turns many small calls into few big ones.

A model server answering one request at a time calls the model once per request; most
models (a GPU network, a vectorised scikit-learn pipeline) cost nearly the same for one
row as for thirty. The batcher queues submitted items, and one worker thread hands them
to `predict_batch` in groups: at most `max_batch_size` items, collected for at most
`max_wait_s` after the first one was taken.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any


class QueueFull(Exception):
    """`max_queue` items are already waiting; the server answers 429."""


class MicroBatcher:
    """Collects submitted items into batches for one call of `predict_batch` each."""

    def __init__(
        self,
        predict_batch: Callable[[list], Sequence],
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int | None = None,
    ) -> None:
        # Written as "not ... >=": every comparison with NaN is false, so `max_wait_s < 0` would let NaN in.
        if not max_batch_size >= 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size!r}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must not be negative, got {max_wait_s!r}")
        if max_queue is not None and not max_queue >= 1:
            raise ValueError(f"max_queue must be at least 1 (or None for no bound), got {max_queue!r}")
        self._predict_batch = predict_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._max_queue = max_queue
        # One condition guards the queue and the closed flag: submit's "check the bound, then
        # append" must be one step, or two threads both see room for the last slot.
        self._waiting: deque[tuple[Any, Future]] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._worker.start()

    def submit(self, item: Any) -> Future:
        """Queue `item`; its future resolves to its result. QueueFull when `max_queue` items wait."""
        future: Future = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._max_queue is not None and len(self._waiting) >= self._max_queue:
                raise QueueFull(f"{len(self._waiting)} items are already waiting")
            self._waiting.append((item, future))
            self._changed.notify()
        return future

    def close(self) -> None:
        """Refuse new items, answer every item already submitted, then stop the worker."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the worker -------------------------------------------------------------------

    def _next_batch(self) -> list[tuple[Any, Future]]:
        """The next batch, in submission order; empty only when closed with nothing left."""
        with self._changed:
            while not self._waiting and not self._closed:
                self._changed.wait()
            if not self._waiting:
                return []
            batch = [self._waiting.popleft()]
            # The clock starts when the first item is taken, not when it was submitted, and
            # does not restart with each new item: the first item waits at most max_wait_s.
            deadline = time.monotonic() + self._max_wait_s
            while len(batch) < self._max_batch_size:
                if self._waiting:
                    batch.append(self._waiting.popleft())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    break
                # max_wait_s may be inf: a timed wait past TIMEOUT_MAX raises OverflowError.
                self._changed.wait(min(remaining, threading.TIMEOUT_MAX))
            return batch

    def _run(self) -> None:
        while batch := self._next_batch():
            items = [item for item, _ in batch]
            futures = [future for _, future in batch]
            try:
                results = self._predict_batch(items)
                if len(results) != len(items):
                    raise ValueError(
                        f"predict_batch returned {len(results)} results for a batch of {len(items)} items")
            except Exception as exc:  # every caller of this batch hears of it; the worker goes on
                for future in futures:
                    self._settle(future.set_exception, exc)
                continue
            for future, result in zip(futures, results):
                self._settle(future.set_result, result)

    @staticmethod
    def _settle(set_outcome, value) -> None:
        # A caller may have cancelled its future while it waited; that must not kill the worker.
        try:
            set_outcome(value)
        except InvalidStateError:
            pass
