"""A table-driven state machine; the ramp is a list of remaining steps."""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence


def burn_rate(errors, total, slo):
    if not (0 < slo < 1):
        raise ValueError("slo must be in (0, 1)")
    if not (0 <= errors <= total):
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        problems = []
        if not (0 < slo < 1):
            problems.append("slo")
        steps = list(steps)
        if (not steps or not all(0 < s <= 100 for s in steps)
                or not all(a < b for a, b in zip(steps, steps[1:])) or steps[-1] != 100):
            problems.append("steps")
        for name, v in {"step_duration_s": step_duration_s, "long_window_s": long_window_s,
                        "short_window_s": short_window_s, "burn_threshold": burn_threshold}.items():
            if not (isinstance(v, numbers.Real) and v > 0 and math.isfinite(v)):
                problems.append(name)
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s > long_window_s")
        if isinstance(min_requests, bool) or not isinstance(min_requests, numbers.Integral) or min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError("bad options: " + ", ".join(problems))
        self._move, self._read, self._clock = set_canary_percent, error_counts, clock
        self._slo, self._threshold = slo, burn_threshold
        self._windows = (long_window_s, short_window_s)
        self._duration, self._min = step_duration_s, min_requests
        self._remaining = steps
        self._since = None
        self.state, self.percent = "pending", 0

    def _enter(self, step, now=None):
        self._move(step)
        self._remaining = self._remaining[1:]
        self.percent = step
        self._since = self._clock() if now is None else now
        self.state = "ramping" if self._remaining else "promoted"

    def start(self) -> None:
        if self.state != "pending":
            raise RuntimeError("start() may be called once")
        self._enter(self._remaining[0])

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("start() first")
        if self.state in ("promoted", "rolled_back"):
            return self.state
        long_counts = self._read(self._windows[0])
        short_counts = self._read(self._windows[1])
        burns = [burn_rate(e, t, self._slo) for e, t in (long_counts, short_counts)]
        if min(burns) > self._threshold:
            self._move(0)
            self.percent, self.state = 0, "rolled_back"
            return self.state
        now = self._clock()
        due = now - self._since >= self._duration
        if due and long_counts[1] >= self._min:
            self._enter(self._remaining[0], now)
        return self.state
