"""Burn rate and canary controller."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


def _check_slo(slo):
    if not 0 < slo < 1:
        raise ValueError(f"slo must be in (0, 1), got {slo}")


def burn_rate(errors: int, total: int, slo: float) -> float:
    _check_slo(slo)
    if total < 0 or errors < 0 or errors > total:
        raise ValueError(f"impossible counts {errors}/{total}")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _positive_finite(name, x):
    if not (x > 0 and math.isfinite(x)):
        raise ValueError(f"{name} must be a positive finite number, got {x}")


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _check_slo(slo)
        steps = tuple(steps)
        if not steps:
            raise ValueError("steps must not be empty")
        for s in steps:
            if not 0 < s <= 100:
                raise ValueError(f"step {s} outside (0, 100]")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must be strictly increasing")
        if steps[-1] != 100:
            raise ValueError("steps must end at 100")
        _positive_finite("step_duration_s", step_duration_s)
        _positive_finite("long_window_s", long_window_s)
        _positive_finite("short_window_s", short_window_s)
        _positive_finite("burn_threshold", burn_threshold)
        if short_window_s > long_window_s:
            raise ValueError("short_window_s must not exceed long_window_s")
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
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
        self._index = -1
        self._began = None

    def _go_to(self, index, now=None):
        self._set(self.steps[index])
        self._index = index
        self.percent = self.steps[index]
        self._began = self._clock() if now is None else now
        self.state = "promoted" if index == len(self.steps) - 1 else "ramping"

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("start() was already called")
        self._go_to(0)

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("tick() before start()")
        if self.state != "ramping":
            return self.state
        long_e, long_t = self._counts(self.long_window_s)
        short_e, short_t = self._counts(self.short_window_s)
        now = self._clock()
        if (burn_rate(long_e, long_t, self.slo) > self.burn_threshold
                and burn_rate(short_e, short_t, self.slo) > self.burn_threshold):
            self._set(0)
            self.percent = 0
            self.state = "rolled_back"
        elif now - self._began >= self.step_duration_s and long_t >= self.min_requests:
            self._go_to(self._index + 1, now)
        return self.state
