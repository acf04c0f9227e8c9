"""A micro-batcher on queue.Queue: the queue's own bound is max_queue, a sentinel wakes and stops the worker."""

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
        if not (max_batch_size >= 1 and max_wait_s >= 0 and (max_queue is None or max_queue >= 1)):  # NaN too
            raise ValueError("bad batcher arguments")
        self.predict_batch = predict_batch
        self.size = max_batch_size
        self.wait = max_wait_s
        # queue.Queue's maxsize counts exactly the items not yet taken by the worker.
        self.q: queue.Queue = queue.Queue(maxsize=max_queue or 0)
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def submit(self, item):
        fut = Future()
        with self.lock:
            if self.closed:
                raise RuntimeError("closed")
            try:
                self.q.put_nowait((item, fut))
            except queue.Full:
                raise QueueFull("queue full") from None
        return fut

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.q.put(_STOP)  # after every accepted item: nothing can be submitted now
        if threading.current_thread() is not self.thread:
            self.thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def loop(self):
        stopping = False
        while not stopping:
            first = self.q.get()
            if first is _STOP:
                return
            batch = [first]
            end = time.monotonic() + self.wait
            while len(batch) < self.size:
                try:
                    nxt = self.q.get(timeout=min(max(0.0, end - time.monotonic()), threading.TIMEOUT_MAX))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self.run(batch)

    def run(self, batch):
        items = [i for i, _ in batch]
        try:
            out = self.predict_batch(items)
            if len(out) != len(items):
                raise ValueError("wrong number of results")
        except Exception as e:
            for _, f in batch:
                if f.set_running_or_notify_cancel():  # False: its caller cancelled it
                    f.set_exception(e)
            return
        for (_, f), r in zip(batch, out):
            if f.set_running_or_notify_cancel():
                f.set_result(r)
