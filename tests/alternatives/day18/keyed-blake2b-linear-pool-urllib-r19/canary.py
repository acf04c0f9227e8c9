"""Task 3, state kept as an index; percent derived."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not (0 < slo < 1):
        raise ValueError("slo")
    if not (0 <= errors <= total):
        raise ValueError("counts")
    return 0.0 if total == 0 else errors / total / (1 - slo)


class CanaryController:
    def __init__(self, set_canary_percent, error_counts, *, slo=0.999,
                 steps=(5, 25, 50, 100), step_duration_s=600.0,
                 long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic) -> None:
        if not (0 < slo < 1):
            raise ValueError("slo")
        steps = list(steps)
        if not steps or steps[-1] != 100:
            raise ValueError("steps must end at 100")
        if any(not (0 < s <= 100) for s in steps):
            raise ValueError("step range")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps not strictly increasing")
        for v in (step_duration_s, long_window_s, short_window_s, burn_threshold):
            if not (math.isfinite(v) and v > 0):
                raise ValueError("must be positive and finite")
        if short_window_s > long_window_s:
            raise ValueError("windows")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests")
        self._move = set_canary_percent
        self._read = error_counts
        self._slo = slo
        self._steps = steps
        self._dur = step_duration_s
        self._long = long_window_s
        self._short = short_window_s
        self._thr = burn_threshold
        self._min = min_requests
        self._clock = clock
        self._idx = None       # None: pending
        self._since = 0.0
        self._rolled_back = False

    @property
    def state(self) -> str:
        if self._idx is None:
            return "pending"
        if self._rolled_back:
            return "rolled_back"
        if self._idx == len(self._steps) - 1:
            return "promoted"
        return "ramping"

    @property
    def percent(self) -> float:
        if self._idx is None or self._rolled_back:
            return 0
        return self._steps[self._idx]

    def start(self) -> None:
        if self._idx is not None:
            raise RuntimeError("started twice")
        self._move(self._steps[0])
        self._since = self._clock()
        self._idx = 0

    def tick(self) -> str:
        st = self.state
        if st == "pending":
            raise RuntimeError("tick before start")
        if st != "ramping":
            return st
        long_counts = self._read(self._long)
        short_counts = self._read(self._short)
        burning = all(burn_rate(e, t, self._slo) > self._thr for e, t in (long_counts, short_counts))
        if burning:
            self._move(0)
            self._rolled_back = True
        else:
            now = self._clock()
            if now - self._since >= self._dur and long_counts[1] >= self._min:
                self._move(self._steps[self._idx + 1])
                self._since = now
                self._idx += 1
        return self.state
