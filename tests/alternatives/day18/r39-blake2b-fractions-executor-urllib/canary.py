"""Task 3, alt style: a remaining-steps queue, small decision helpers, dataclass-free validation table."""

from __future__ import annotations

import math
import numbers
import time
from collections import deque


def burn_rate(errors, total, slo):
    if not (slo > 0 and slo < 1):
        raise ValueError("slo must lie in (0, 1)")
    if not 0 <= errors <= total:
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1 - slo)


def _is_positive_finite(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


class CanaryController:
    PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"

    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0, burn_threshold=14.4,
                 min_requests=100, clock=time.monotonic):
        problems = []
        if not (slo > 0 and slo < 1):
            problems.append("slo")
        plan = list(steps)
        if not plan or plan[-1] != 100 or not all(0 < s <= 100 for s in plan) \
                or any(b <= a for a, b in zip(plan, plan[1:])):
            problems.append("steps")
        for name, value in dict(step_duration_s=step_duration_s, long_window_s=long_window_s,
                                short_window_s=short_window_s, burn_threshold=burn_threshold).items():
            if not _is_positive_finite(value):
                problems.append(name)
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s > long_window_s")
        if type(min_requests) is not int or min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError("bad options: " + ", ".join(problems))
        self._move, self._read = set_canary_percent, error_counts
        self._slo, self._threshold, self._min = slo, burn_threshold, min_requests
        self._windows = (long_window_s, short_window_s)
        self._duration, self._clock = step_duration_s, clock
        self._todo = deque(plan)
        self._since = 0.0
        self.state, self.percent = self.PENDING, 0

    def _go(self, percent, began):
        """Move the traffic first; only once it moved does our own state change."""
        self._move(percent)
        self._todo.popleft()
        self.percent, self._since = percent, began
        self.state = self.RAMPING if self._todo else self.PROMOTED

    def start(self):
        if self.state != self.PENDING:
            raise RuntimeError("start() may be called once")
        self._go(self._todo[0], self._clock())

    def _burning(self, counts) -> bool:
        return burn_rate(*counts, self._slo) > self._threshold

    def tick(self):
        if self.state == self.PENDING:
            raise RuntimeError("start() first")
        if self.state != self.RAMPING:
            return self.state
        long_counts = self._read(self._windows[0])
        short_counts = self._read(self._windows[1])
        if self._burning(long_counts) and self._burning(short_counts):
            self._move(0)
            self.state, self.percent = self.ROLLED_BACK, 0
        else:
            now = self._clock()
            if now - self._since >= self._duration and long_counts[1] >= self._min:
                self._go(self._todo[0], now)
        return self.state
