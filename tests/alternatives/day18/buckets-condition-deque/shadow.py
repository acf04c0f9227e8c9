"""Own worker threads around a deque guarded by one Condition."""

import collections
import operator
import threading


class ShadowRouter:
    def __init__(self, stable, candidate, *, compare=operator.eq, max_pending=100, workers=2):
        if type(max_pending) is not int or max_pending < 1 or type(workers) is not int or workers < 1:
            raise ValueError("max_pending and workers must be positive ints")
        self._stable, self._candidate, self._compare = stable, candidate, compare
        self._limit = max_pending
        self._cv = threading.Condition()
        self._jobs = collections.deque()
        self._in_flight = 0  # queued + running
        self._stopping = False
        self._tally = collections.Counter(agreed=0, disagreed=0, errors=0, dropped=0)
        self._workers = []
        for n in range(workers):
            t = threading.Thread(target=self._loop, name=f"shadow-worker-{n}")
            t.daemon = True
            t.start()
            self._workers.append(t)

    def _loop(self):
        while True:
            with self._cv:
                while not self._jobs and not self._stopping:
                    self._cv.wait()
                if not self._jobs:
                    return
                request, reference = self._jobs.popleft()
            try:
                verdict = "agreed" if self._compare(reference, self._candidate(request)) else "disagreed"
            except BaseException:
                verdict = "errors"
            with self._cv:
                self._tally[verdict] += 1
                self._in_flight -= 1
                self._cv.notify_all()

    def handle(self, request):
        with self._cv:
            if self._stopping:
                raise RuntimeError("closed")
        reply = self._stable(request)
        with self._cv:
            if self._stopping or self._in_flight >= self._limit:
                self._tally["dropped"] += 1
            else:
                self._in_flight += 1
                self._jobs.append((request, reply))
                self._cv.notify()
        return reply

    def stats(self):
        with self._cv:
            return {k: self._tally[k] for k in ("agreed", "disagreed", "errors", "dropped")}

    def agreement_rate(self):
        with self._cv:
            seen = self._tally["agreed"] + self._tally["disagreed"]
            return None if seen == 0 else self._tally["agreed"] / seen

    def close(self):
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        for t in self._workers:
            t.join()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
