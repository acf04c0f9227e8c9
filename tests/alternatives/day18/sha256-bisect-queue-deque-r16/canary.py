"""Task 3: burn rate and a canary controller (index of the current step + when it began)."""

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
    if not (value > 0 and math.isfinite(value)):
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
        if not steps or steps[-1] != 100:
            raise ValueError("steps must be non-empty and end at 100")
        for s in steps:
            if not 0 < s <= 100:
                raise ValueError(f"step {s!r} outside (0, 100]")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must be strictly increasing")
        for name, value in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                            ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            _positive_finite(name, value)
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
        self._began = 0.0

    def _enter_step(self, index: int, now: float | None = None) -> None:
        self._set(self.steps[index])
        self._index = index
        self.percent = self.steps[index]
        self._began = self._clock() if now is None else now
        self.state = "promoted" if index == len(self.steps) - 1 else "ramping"

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("start() was already called")
        self._enter_step(0)

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("tick() before start()")
        if self.state != "ramping":
            return self.state
        long_errors, long_total = self._counts(self.long_window_s)
        short_errors, short_total = self._counts(self.short_window_s)
        now = self._clock()
        long_burn = burn_rate(long_errors, long_total, self.slo)
        short_burn = burn_rate(short_errors, short_total, self.slo)
        if long_burn > self.burn_threshold and short_burn > self.burn_threshold:
            self._set(0)
            self.percent = 0
            self.state = "rolled_back"
        elif now - self._began >= self.step_duration_s and long_total >= self.min_requests:
            self._enter_step(self._index + 1, now)
        return self.state
