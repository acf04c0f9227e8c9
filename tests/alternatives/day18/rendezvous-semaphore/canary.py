"""Task 3: burn rate and a canary controller kept as a queue of remaining steps."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if math.isnan(slo) or slo <= 0 or slo >= 1:
        raise ValueError(f"slo must be in (0, 1), got {slo}")
    if total < 0:
        raise ValueError("total must be >= 0")
    if errors < 0 or errors > total:
        raise ValueError("errors must be in [0, total]")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        burn_rate(0, 0, slo)  # validates slo
        steps = list(steps)
        problems = []
        if not steps:
            problems.append("steps is empty")
        else:
            if any(b <= a for a, b in zip(steps, steps[1:])):
                problems.append("steps must be strictly increasing")
            if not all(0 < s <= 100 for s in steps):
                problems.append("each step must be in (0, 100]")
            if steps[-1] != 100:
                problems.append("the last step must be 100")
        for name, value in {"step_duration_s": step_duration_s, "long_window_s": long_window_s,
                            "short_window_s": short_window_s, "burn_threshold": burn_threshold}.items():
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be positive and finite")
        if not problems and short_window_s > long_window_s:
            problems.append("the short window may not be longer than the long one")
        if type(min_requests) is not int or min_requests < 0:
            problems.append("min_requests must be an int >= 0")
        if problems:
            raise ValueError("; ".join(problems))
        self._move, self._read, self._clock = set_canary_percent, error_counts, clock
        self._slo, self._steps = slo, tuple(steps)
        self._duration, self._long, self._short = step_duration_s, long_window_s, short_window_s
        self._threshold, self._min_requests = burn_threshold, min_requests
        self._remaining: deque[float] | None = None
        self._step_began: float | None = None
        self._percent: float = 0
        self._final: str | None = None

    @property
    def state(self) -> str:
        if self._final:
            return self._final
        return "pending" if self._remaining is None else "ramping"

    @property
    def percent(self) -> float:
        return self._percent

    def _go(self, percent: float, moved: bool = False, now: float | None = None) -> None:
        if not moved:
            self._move(percent)
        self._percent = percent
        self._step_began = self._clock() if now is None else now
        if percent == 100:
            self._final = "promoted"

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError(f"already started ({self.state})")
        remaining = deque(self._steps)
        self._move(remaining[0])
        self._remaining = remaining
        self._go(remaining.popleft(), moved=True)

    def tick(self) -> str:
        state = self.state
        if state == "pending":
            raise RuntimeError("call start() first")
        if state != "ramping":
            return state
        long_window = self._read(self._long)
        short_window = self._read(self._short)
        now = self._clock()
        burning = all(burn_rate(e, t, self._slo) > self._threshold for e, t in (long_window, short_window))
        if burning:
            self._move(0)
            self._percent, self._final = 0, "rolled_back"
        elif now >= self._step_began + self._duration and long_window[1] >= self._min_requests:
            self._go(self._remaining[0], now=now)
            self._remaining.popleft()
        return self.state
