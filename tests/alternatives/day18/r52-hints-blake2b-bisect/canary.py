"""Task 3."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not 0 < slo < 1:
        raise ValueError("slo")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("counts")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _pos_finite(name, x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(name)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(name)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < slo < 1:
            raise ValueError("slo")
        steps = tuple(steps)
        if not steps:
            raise ValueError("steps empty")
        for s in steps:
            if not 0 < s <= 100:
                raise ValueError("step outside (0, 100]")
        for a, b in zip(steps, steps[1:]):
            if not a < b:
                raise ValueError("steps not increasing")
        if steps[-1] != 100:
            raise ValueError("steps must end at 100")
        _pos_finite("step_duration_s", step_duration_s)
        _pos_finite("long_window_s", long_window_s)
        _pos_finite("short_window_s", short_window_s)
        _pos_finite("burn_threshold", burn_threshold)
        if short_window_s > long_window_s:
            raise ValueError("short window longer than long window")
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

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("already started")
        self._set(self.steps[0])
        self._began = self._clock()
        self._step = 0
        self.percent = self.steps[0]
        self.state = "promoted" if len(self.steps) == 1 else "ramping"

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("not started")
        if self.state != "ramping":
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
            nxt = self._step + 1
            self._set(self.steps[nxt])
            self._step = nxt
            self._began = now
            self.percent = self.steps[nxt]
            if nxt == len(self.steps) - 1:
                self.state = "promoted"
        return self.state
