"""Task 3: burn rate and a canary controller that keeps the remaining steps and a deadline."""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if math.isnan(slo) or slo <= 0 or slo >= 1:
        raise ValueError("slo must be strictly between 0 and 1")
    if total < 0 or not 0 <= errors <= total:
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        burn_rate(0, 0, slo)  # validates the slo
        steps = list(steps)
        problems = []
        if not steps or steps[-1] != 100:
            problems.append("steps must end at 100")
        if any(math.isnan(s) or s <= 0 or s > 100 for s in steps):
            problems.append("every step must be in (0, 100]")
        if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
            problems.append("steps must increase strictly")
        for name, value in {"step_duration_s": step_duration_s, "long_window_s": long_window_s,
                            "short_window_s": short_window_s, "burn_threshold": burn_threshold}.items():
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be positive and finite")
        if not problems and short_window_s > long_window_s:
            problems.append("the short window cannot be longer than the long one")
        if type(min_requests) is bool or not isinstance(min_requests, numbers.Integral) or min_requests < 0:
            problems.append("min_requests must be a whole number >= 0")
        if problems:
            raise ValueError("; ".join(problems))
        self._move = set_canary_percent
        self._read = error_counts
        self._slo, self._threshold = slo, burn_threshold
        self._windows = (long_window_s, short_window_s)
        self._bake, self._min_requests = step_duration_s, min_requests
        self._clock = clock
        self._todo = deque(steps)
        self._due_at = math.inf
        self._started = False
        self.state, self.percent = "pending", 0

    def _next_step(self, now: float | None = None) -> None:
        self._move(self._todo[0])
        self.percent = self._todo.popleft()
        self._due_at = (self._clock() if now is None else now) + self._bake
        if not self._todo:
            self.state = "promoted"

    def start(self) -> None:
        if self._started:
            raise RuntimeError("start() was already called")
        self._next_step()
        self._started = True
        if self.state == "pending":
            self.state = "ramping"

    def tick(self) -> str:
        if not self._started:
            raise RuntimeError("call start() first")
        if self.state in ("promoted", "rolled_back"):
            return self.state
        readings = [self._read(w) for w in self._windows]
        (long_errors, long_total), _ = readings
        now = self._clock()
        if all(burn_rate(e, t, self._slo) > self._threshold for e, t in readings):
            self._move(0)
            self.percent, self.state = 0, "rolled_back"
        elif now >= self._due_at and long_total >= self._min_requests:
            self._next_step(now)
        return self.state
