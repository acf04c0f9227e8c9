from __future__ import annotations
import math
import numbers
import time


def burn_rate(errors, total, slo):
    if not (slo > 0 and slo < 1):
        raise ValueError("slo must be in (0, 1)")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("bad counts")
    return 0.0 if total == 0 else errors / total / (1 - slo)


class CanaryController:
    FINAL = ("promoted", "rolled_back")

    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic):
        if not (slo > 0 and slo < 1):
            raise ValueError("slo")
        plan = list(steps)
        ok = bool(plan) and all(s > 0 and s <= 100 for s in plan) \
            and all(b > a for a, b in zip(plan, plan[1:])) and plan[-1] == 100
        if not ok:
            raise ValueError("steps")
        for v in (step_duration_s, long_window_s, short_window_s, burn_threshold):
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not (math.isfinite(v) and v > 0):
                raise ValueError("durations and threshold must be positive and finite")
        if short_window_s > long_window_s:
            raise ValueError("short window longer than long window")
        if not isinstance(min_requests, numbers.Integral) or isinstance(min_requests, bool) or min_requests < 0:
            raise ValueError("min_requests")
        self._move = set_canary_percent
        self._read = error_counts
        self._slo = slo
        self._plan = plan
        self._dur = step_duration_s
        self._windows = (long_window_s, short_window_s)
        self._thr = burn_threshold
        self._min = min_requests
        self._clock = clock
        self._history = []  # (step index, began at)

    @property
    def state(self):
        if not self._history:
            return "pending"
        idx = self._history[-1][0]
        if idx is None:
            return "rolled_back"
        return "promoted" if idx == len(self._plan) - 1 else "ramping"

    @property
    def percent(self):
        if not self._history or self._history[-1][0] is None:
            return 0
        return self._plan[self._history[-1][0]]

    def start(self):
        if self._history:
            raise RuntimeError("start() called twice")
        self._move(self._plan[0])
        self._history.append((0, self._clock()))

    def tick(self):
        st = self.state
        if st == "pending":
            raise RuntimeError("tick() before start()")
        if st in self.FINAL:
            return st
        (le, lt), (se, sn) = [self._read(w) for w in self._windows]
        if min(burn_rate(le, lt, self._slo), burn_rate(se, sn, self._slo)) > self._thr:
            self._move(0)
            self._history.append((None, self._clock()))
            return self.state
        idx, began = self._history[-1]
        now = self._clock()
        if lt >= self._min and now - began >= self._dur:
            self._move(self._plan[idx + 1])
            self._history.append((idx + 1, now))
        return self.state
