"""Task 3: burn rate and a canary controller (commit-after-move style)."""
from __future__ import annotations

import math
import numbers
import time

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def _check_slo(slo):
    if not (isinstance(slo, numbers.Real) and 0.0 < slo < 1.0):
        raise ValueError(f"slo must lie in (0, 1), got {slo!r}")


def burn_rate(errors, total, slo):
    _check_slo(slo)
    if total < 0 or not 0 <= errors <= total:
        raise ValueError(f"impossible counts: {errors} errors of {total}")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


def _finite_positive(**named):
    for name, value in named.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")


class CanaryController:
    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic):
        _check_slo(slo)
        plan = list(steps)
        if not plan or plan[-1] != 100:
            raise ValueError("steps must be non-empty and end at 100")
        if any(not (0 < s <= 100) for s in plan) or any(b <= a for a, b in zip(plan, plan[1:])):
            raise ValueError("steps must be strictly increasing within (0, 100]")
        _finite_positive(step_duration_s=step_duration_s, long_window_s=long_window_s,
                         short_window_s=short_window_s, burn_threshold=burn_threshold)
        if short_window_s > long_window_s:
            raise ValueError("the short window cannot be longer than the long one")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._move, self._metrics, self._clock = set_canary_percent, error_counts, clock
        self._plan = plan
        self._slo, self._threshold = slo, burn_threshold
        self._windows = (long_window_s, short_window_s)
        self._bake, self._min_requests = step_duration_s, min_requests
        self._state = PENDING
        self._index = None
        self._since = None

    @property
    def state(self):
        return self._state

    @property
    def percent(self):
        if self._state in (PENDING, ROLLED_BACK):
            return 0
        return self._plan[self._index]

    def _go_to(self, index, at):
        self._move(self._plan[index])  # raises -> nothing below happens
        self._index, self._since = index, at
        self._state = PROMOTED if index == len(self._plan) - 1 else RAMPING

    def start(self):
        if self._state != PENDING:
            raise RuntimeError("start() was already called")
        self._go_to(0, self._clock())

    def _burning(self, counts):
        errors, total = counts
        return burn_rate(errors, total, self._slo) > self._threshold

    def tick(self):
        if self._state == PENDING:
            raise RuntimeError("tick() before start()")
        if self._state != RAMPING:
            return self._state
        long_counts = self._metrics(self._windows[0])
        short_counts = self._metrics(self._windows[1])
        now = self._clock()
        if self._burning(long_counts) and self._burning(short_counts):
            self._move(0)
            self._state = ROLLED_BACK
        elif now - self._since >= self._bake and long_counts[1] >= self._min_requests:
            self._go_to(self._index + 1, now)
        return self._state
