"""Task 3: burn rate and the canary controller (hint-style)."""

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
        raise ValueError("impossible counts")
    if total == 0:
        return 0.0
    return (errors / total) / (1 - slo)


def _positive_finite(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not v > 0:
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")


class CanaryController:
    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic) -> None:
        _check_slo(slo)
        steps = tuple(steps)
        if not steps:
            raise ValueError("steps must not be empty")
        for s in steps:
            if not 0 < s <= 100:
                raise ValueError(f"step {s} outside (0, 100]")
        if any(not a < b for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must be strictly increasing")
        if steps[-1] != 100:
            raise ValueError("steps must end at 100")
        for name, v in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                        ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            _positive_finite(name, v)
        if short_window_s > long_window_s:
            raise ValueError("short window longer than long window")
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._set = set_canary_percent
        self._counts = error_counts
        self.slo, self.steps = slo, steps
        self.step_duration_s, self.long_window_s, self.short_window_s = step_duration_s, long_window_s, short_window_s
        self.burn_threshold, self.min_requests, self._clock = burn_threshold, min_requests, clock
        self.state = "pending"
        self.percent = 0
        self._step = -1
        self._began = None

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("already started")
        self._set(self.steps[0])
        self._step = 0
        self._began = self._clock()
        self.percent = self.steps[0]
        self.state = "promoted" if len(self.steps) == 1 else "ramping"

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("tick() before start()")
        if self.state != "ramping":
            return self.state
        le, lt = self._counts(self.long_window_s)
        se, st = self._counts(self.short_window_s)
        if (burn_rate(le, lt, self.slo) > self.burn_threshold
                and burn_rate(se, st, self.slo) > self.burn_threshold):
            self._set(0)
            self.percent = 0
            self.state = "rolled_back"
            return self.state
        now = self._clock()
        if now - self._began >= self.step_duration_s and lt >= self.min_requests:
            nxt = self.steps[self._step + 1]
            self._set(nxt)
            self._step += 1
            self.percent = nxt
            self._began = now
            if self._step == len(self.steps) - 1:
                self.state = "promoted"
        return self.state
