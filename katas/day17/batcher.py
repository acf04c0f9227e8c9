"""Task 1: a micro-batcher, the piece that lets one model call answer many requests.

Contract (the tests check exactly this):
- `MicroBatcher(predict_batch, max_batch_size, max_wait_s, max_queue=None)`;
  `max_batch_size < 1`, `max_wait_s < 0` or `max_queue < 1` raises ValueError.
- `submit(item)` returns a `concurrent.futures.Future` at once, for any item (None included);
  it is safe to call from many threads at the same time.
- One worker thread takes the oldest waiting item and keeps collecting, in submission
  order, until it holds `max_batch_size` items or `max_wait_s` seconds have passed since
  it took the first; then it calls `predict_batch(items)` once, with a list. The i-th
  result resolves the i-th item's future. `predict_batch` is never called with an empty
  list, nor with more than `max_batch_size` items. An idle worker blocks until an item or
  close() arrives; it never spins.
- If `predict_batch` raises, every future of that batch gets that exception and the
  worker goes on with the next batch. A result whose length differs from the batch's
  fails every future of the batch with ValueError.
- A future its caller cancelled while the item waited gets no result and stays
  cancelled, and the batcher goes on serving every other item (whether the cancelled
  item is still sent to `predict_batch` is your choice).
- With `max_queue`, a submit while `max_queue` items wait (submitted, not yet taken into
  a batch) raises `QueueFull`.
- `close()` makes later submits raise RuntimeError, still answers every item already
  submitted (a submit racing close() either raises RuntimeError or is answered), then
  stops the worker thread; a batch still being collected, or begun after close(), is sent
  at once. A batcher never closed does not keep the process from exiting.
  `with MicroBatcher(...) as batcher:` closes it on leaving the block (an exception in the
  block still propagates); closing again does nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
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
        # TODO(task 1): validate the arguments, set up a queue guarded by a lock (or a
        # Condition), and start the one worker thread.
        raise NotImplementedError("task 1")

    def submit(self, item: Any) -> Future:
        """Queue `item` and return the future its result will resolve."""
        # TODO(task 1): refuse after close (RuntimeError) or when max_queue items wait
        # (QueueFull); otherwise queue (item, Future()) and wake the worker.
        raise NotImplementedError("task 1")

    def close(self) -> None:
        """Refuse new items, answer every item already submitted, then stop the worker."""
        # TODO(task 1): mark closed, wake the worker, let it drain the queue and end.
        raise NotImplementedError("task 1")

    def __enter__(self) -> MicroBatcher:
        # TODO(task 1): a context manager that hands back the batcher ...
        raise NotImplementedError("task 1")

    def __exit__(self, *exc_info) -> None:
        # TODO(task 1): ... and closes it on exit.
        raise NotImplementedError("task 1")
