"""Micro-batcher over a queue.Queue, woken for close() by a private sentinel."""

import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError

_STOP = object()


class QueueFull(Exception):
    pass


class MicroBatcher:
    def __init__(self, predict_batch, max_batch_size, max_wait_s, max_queue=None):
        for name, value, low in (("max_batch_size", max_batch_size, 1), ("max_wait_s", max_wait_s, 0)):
            if not (value >= low):
                raise ValueError(f"bad {name}: {value!r}")
        if max_queue is not None and not (max_queue >= 1):
            raise ValueError(f"bad max_queue: {max_queue!r}")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._items = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        self._worker = threading.Thread(target=self._loop, daemon=True)
        self._worker.start()

    def submit(self, item):
        fut = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("submit after close()")
            if self.max_queue is not None and self._waiting >= self.max_queue:
                raise QueueFull("queue is full")
            self._waiting += 1
            self._items.put((item, fut))
        return fut

    def close(self):
        with self._lock:
            if not self._closed:
                self._closed = True
                self._items.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def _take(self, timeout=None):
        if timeout is None:
            got = self._items.get()
        else:
            got = self._items.get(timeout=min(timeout, threading.TIMEOUT_MAX))
        if got is not _STOP:
            with self._lock:
                self._waiting -= 1
        return got

    def _loop(self):
        stopping = False
        while True:
            if stopping:
                try:
                    first = self._items.get_nowait()
                except queue.Empty:
                    return
                with self._lock:
                    self._waiting -= 1
            else:
                first = self._take()
                if first is _STOP:
                    return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                if stopping:
                    try:
                        nxt = self._items.get_nowait()
                    except queue.Empty:
                        break
                    with self._lock:
                        self._waiting -= 1
                else:
                    try:
                        nxt = self._take(max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        continue
                batch.append(nxt)
            self._run(batch)

    def _run(self, batch):
        items = [item for item, _ in batch]
        try:
            results = self.predict_batch(items)
            if len(results) != len(items):
                raise ValueError("predict_batch returned %d results for %d items" % (len(results), len(items)))
        except Exception as exc:
            for _, fut in batch:
                try:
                    fut.set_exception(exc)
                except InvalidStateError:
                    pass
            return
        for (_, fut), res in zip(batch, results):
            try:
                fut.set_result(res)
            except InvalidStateError:
                pass  # its caller cancelled it
