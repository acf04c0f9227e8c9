"""Task 3: a step index and the time the next step is due."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not 0 < slo < 1:
        raise ValueError("slo outside (0, 1)")
    if not 0 <= errors <= total:
        raise ValueError("errors outside [0, total]")
    return 0.0 if total == 0 else errors / total / (1 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        problems = []
        if not 0 < slo < 1:
            problems.append("slo")
        steps = tuple(steps)
        if not steps or steps[-1] != 100 or not all(0 < s <= 100 for s in steps) \
                or any(a >= b for a, b in zip(steps, steps[1:])):
            problems.append("steps")
        for name, value in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                            ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            if not (value > 0 and math.isfinite(value)):
                problems.append(name)
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s > long_window_s")
        if isinstance(min_requests, bool) or not isinstance(min_requests, numbers.Integral) or min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError(f"bad options: {problems}")
        self._set_percent, self._error_counts, self._clock = set_canary_percent, error_counts, clock
        self._slo, self._steps, self._duration = slo, steps, step_duration_s
        self._windows = (long_window_s, short_window_s)
        self._threshold, self._min_requests = burn_threshold, min_requests
        self._index = -1
        self._due = math.inf
        self._state = "pending"

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._state in ("pending", "rolled_back"):
            return 0
        return self._steps[self._index]

    def _go_to(self, index: int, now: float | None = None) -> None:
        self._set_percent(self._steps[index])
        self._index = index
        began = self._clock() if now is None else now
        self._due = began + self._duration if index < len(self._steps) - 1 else math.inf
        self._state = "promoted" if index == len(self._steps) - 1 else "ramping"

    def start(self) -> None:
        if self._state != "pending":
            raise RuntimeError("already started")
        self._go_to(0)

    def tick(self) -> str:
        if self._state == "pending":
            raise RuntimeError("start() first")
        if self._state != "ramping":
            return self._state
        readings = [self._error_counts(w) for w in self._windows]
        now = self._clock()
        if all(burn_rate(e, t, self._slo) > self._threshold for e, t in readings):
            self._set_percent(0)
            self._state = "rolled_back"
        elif now >= self._due and readings[0][1] >= self._min_requests:
            self._go_to(self._index + 1, now)
        return self._state
