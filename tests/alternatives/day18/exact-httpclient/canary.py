"""Task 3: an iterator over the remaining steps."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not (0 < slo < 1):
        raise ValueError("slo must be in (0, 1)")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("need 0 <= errors <= total")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _positive_finite(value, what):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (0 < slo < 1):
            raise ValueError("slo must be in (0, 1)")
        steps = list(steps)
        if not steps or steps[-1] != 100:
            raise ValueError("steps must end at 100")
        if any(not (0 < s <= 100) for s in steps):
            raise ValueError("every step must be in (0, 100]")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must be strictly increasing")
        _positive_finite(step_duration_s, "step_duration_s")
        _positive_finite(long_window_s, "long_window_s")
        _positive_finite(short_window_s, "short_window_s")
        _positive_finite(burn_threshold, "burn_threshold")
        if short_window_s > long_window_s:
            raise ValueError("the short window cannot be longer than the long one")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._set = set_canary_percent
        self._counts = error_counts
        self.slo = slo
        self._steps = steps
        self._duration = step_duration_s
        self._long = long_window_s
        self._short = short_window_s
        self._threshold = burn_threshold
        self._min_requests = min_requests
        self._clock = clock
        self._remaining = None
        self._began = None
        self.state = "pending"
        self.percent = 0

    def _move(self, percent):
        self._set(percent)
        self.percent = percent

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("start() was already called")
        self._remaining = iter(self._steps)
        first = next(self._remaining)
        self._move(first)
        self._began = self._clock()
        self.state = "promoted" if first == 100 else "ramping"

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("tick() before start()")
        if self.state != "ramping":
            return self.state
        long_errors, long_total = self._counts(self._long)
        short_errors, short_total = self._counts(self._short)
        long_burn = burn_rate(long_errors, long_total, self.slo)
        short_burn = burn_rate(short_errors, short_total, self.slo)
        if long_burn > self._threshold and short_burn > self._threshold:
            self._move(0)
            self.state = "rolled_back"
            return self.state
        now = self._clock()
        if now - self._began >= self._duration and long_total >= self._min_requests:
            step = next(self._remaining)
            try:
                self._move(step)
            except BaseException:  # the move failed: the step is still to come
                self._remaining = itertools.chain([step], self._remaining)
                raise
            self._began = now
            if step == 100:
                self.state = "promoted"
        return self.state
