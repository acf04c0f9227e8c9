"""Task 3."""
from __future__ import annotations

import math
import time


def burn_rate(errors, total, slo):
    if not 0 < slo < 1:
        raise ValueError("slo")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("counts")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _pos_finite(x, name):
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not x > 0:
        raise ValueError(name)


class CanaryController:
    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic):
        if not 0 < slo < 1:
            raise ValueError("slo")
        steps = tuple(steps)
        if not steps:
            raise ValueError("steps empty")
        for s in steps:
            if not 0 < s <= 100:
                raise ValueError("step out of range")
        for a, b in zip(steps, steps[1:]):
            if not a < b:
                raise ValueError("steps not increasing")
        if steps[-1] != 100:
            raise ValueError("last step must be 100")
        for v, n in ((step_duration_s, "step_duration_s"), (long_window_s, "long_window_s"),
                     (short_window_s, "short_window_s"), (burn_threshold, "burn_threshold")):
            _pos_finite(v, n)
        if short_window_s > long_window_s:
            raise ValueError("short > long")
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
            raise ValueError("min_requests")
        self._set = set_canary_percent
        self._counts = error_counts
        self.slo = slo
        self.steps = steps
        self.step_duration_s = step_duration_s
        self.long_window_s = long_window_s
        self.short_window_s = short_window_s
        self.burn_threshold = burn_threshold
        self.min_requests = min_requests
        self._clock = clock
        self.state = "pending"
        self.percent = 0
        self._step = -1
        self._began = None

    def _move_to(self, idx, now):
        self._set(self.steps[idx])
        self._step = idx
        self._began = now
        self.percent = self.steps[idx]
        self.state = "promoted" if idx == len(self.steps) - 1 else "ramping"

    def start(self):
        if self.state != "pending":
            raise RuntimeError("already started")
        now = self._clock()
        self._move_to(0, now)

    def tick(self):
        if self.state == "pending":
            raise RuntimeError("not started")
        if self.state in ("promoted", "rolled_back"):
            return self.state
        le, lt = self._counts(self.long_window_s)
        se, st = self._counts(self.short_window_s)
        now = self._clock()
        thr = self.burn_threshold
        if burn_rate(le, lt, self.slo) > thr and burn_rate(se, st, self.slo) > thr:
            self._set(0)
            self.percent = 0
            self.state = "rolled_back"
        elif now - self._began >= self.step_duration_s and lt >= self.min_requests:
            self._move_to(self._step + 1, now)
        return self.state
