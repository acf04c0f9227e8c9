from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not (0.0 < slo < 1.0):
        raise ValueError("slo must be strictly between 0 and 1")
    if not (0 <= errors <= total):
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


def _is_positive_finite(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


class CanaryController:
    """A state machine over a remaining-steps list; `_due` is the clock time the next step may come."""

    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        steps = list(steps)
        problems = []
        if not (0.0 < slo < 1.0):
            problems.append("slo")
        if not steps or steps[-1] != 100 or not all(0 < s <= 100 for s in steps) \
                or sorted(set(steps)) != steps:
            problems.append("steps")
        for name, value in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                            ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            if not _is_positive_finite(value):
                problems.append(name)
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s > long_window_s")
        if type(min_requests) is not int or min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError(f"invalid options: {', '.join(problems)}")
        self._move = set_canary_percent
        self._measure = error_counts
        self._clock = clock
        self._slo, self._threshold, self._min = slo, burn_threshold, min_requests
        self._windows = (long_window_s, short_window_s)
        self._duration = step_duration_s
        self._remaining = steps
        self._due: float | None = None
        self.state = PENDING
        self.percent = 0

    def _enter_next_step(self, now: float | None = None) -> None:
        percent = self._remaining[0]
        self._move(percent)
        self._remaining.pop(0)
        self.percent = percent
        if self._remaining:
            self.state = RAMPING
            self._due = (self._clock() if now is None else now) + self._duration
        else:
            self.state = PROMOTED

    def start(self) -> None:
        if self.state != PENDING:
            raise RuntimeError("already started")
        self._enter_next_step()

    def _burning(self, counts: tuple[int, int]) -> bool:
        return burn_rate(counts[0], counts[1], self._slo) > self._threshold

    def tick(self) -> str:
        if self.state == PENDING:
            raise RuntimeError("call start() first")
        if self.state in (PROMOTED, ROLLED_BACK):
            return self.state
        long_counts, short_counts = [self._measure(w) for w in self._windows]
        if self._burning(long_counts) and self._burning(short_counts):
            self._move(0)
            self.percent = 0
            self.state = ROLLED_BACK
            return self.state
        now = self._clock()
        if now >= self._due and long_counts[1] >= self._min:
            self._enter_next_step(now)
        return self.state
