from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence


def burn_rate(errors, total, slo):
    if not 0 < slo < 1:
        raise ValueError("slo outside (0, 1)")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("impossible counts")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _positive_finite(name, x):
    if not (isinstance(x, numbers.Real) and math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < slo < 1:
            raise ValueError("slo outside (0, 1)")
        steps = tuple(steps)
        if not steps:
            raise ValueError("no steps")
        for s in steps:
            if not 0 < s <= 100:
                raise ValueError(f"step {s!r} outside (0, 100]")
        if any(not b > a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must increase strictly")
        if steps[-1] != 100:
            raise ValueError("steps must end at 100")
        for name, x in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                        ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            _positive_finite(name, x)
        if short_window_s > long_window_s:
            raise ValueError("short window longer than the long one")
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._set = set_canary_percent
        self._counts = error_counts
        self._slo = slo
        self._steps = steps
        self._step_duration = step_duration_s
        self._long = long_window_s
        self._short = short_window_s
        self._threshold = burn_threshold
        self._min_requests = min_requests
        self._clock = clock
        self.state = "pending"
        self.percent = 0
        self._index = -1
        self._began = 0.0

    def _go_to(self, index, now=None):
        self._set(self._steps[index])
        self._index = index
        self.percent = self._steps[index]
        self._began = self._clock() if now is None else now
        self.state = "promoted" if index == len(self._steps) - 1 else "ramping"

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("already started")
        self._go_to(0)

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("tick() before start()")
        if self.state != "ramping":
            return self.state
        le, lt = self._counts(self._long)
        se, st = self._counts(self._short)
        now = self._clock()
        if (burn_rate(le, lt, self._slo) > self._threshold
                and burn_rate(se, st, self._slo) > self._threshold):
            self._set(0)
            self.percent = 0
            self.state = "rolled_back"
        elif now - self._began >= self._step_duration and lt >= self._min_requests:
            self._go_to(self._index + 1, now)
        return self.state
