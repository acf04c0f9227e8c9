"""Task 3: burn rate and a canary controller (step index + step start time)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not 0 < slo < 1:
        raise ValueError("slo must be in (0, 1)")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("need 0 <= errors <= total")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _positive_finite(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < slo < 1:
            raise ValueError("slo must be in (0, 1)")
        steps = tuple(steps)
        if not steps:
            raise ValueError("steps must not be empty")
        if not all(0 < s <= 100 for s in steps):
            raise ValueError("every step must be in (0, 100]")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must be strictly increasing")
        if steps[-1] != 100:
            raise ValueError("the last step must be 100")
        for name, value in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                            ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            _positive_finite(name, value)
        if short_window_s > long_window_s:
            raise ValueError("short_window_s must not exceed long_window_s")
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._set = set_canary_percent
        self._counts = error_counts
        self.slo, self.steps = slo, steps
        self.step_duration_s, self.long_window_s, self.short_window_s = step_duration_s, long_window_s, short_window_s
        self.burn_threshold, self.min_requests, self._clock = burn_threshold, min_requests, clock
        self.state = "pending"
        self.percent: float = 0
        self._step = -1
        self._began = 0.0

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("start() was already called")
        self._set(self.steps[0])
        self._step, self.percent, self._began = 0, self.steps[0], self._clock()
        self.state = "promoted" if len(self.steps) == 1 else "ramping"

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("tick() before start()")
        if self.state != "ramping":
            return self.state
        long_errors, long_total = self._counts(self.long_window_s)
        short_errors, short_total = self._counts(self.short_window_s)
        now = self._clock()
        if (burn_rate(long_errors, long_total, self.slo) > self.burn_threshold
                and burn_rate(short_errors, short_total, self.slo) > self.burn_threshold):
            self._set(0)
            self.percent, self.state = 0, "rolled_back"
        elif now - self._began >= self.step_duration_s and long_total >= self.min_requests:
            nxt = self.steps[self._step + 1]
            self._set(nxt)
            self._step += 1
            self.percent, self._began = nxt, now
            if self._step == len(self.steps) - 1:
                self.state = "promoted"
        return self.state
