"""Task 3: burn rate and the canary controller as a small state machine over a step iterator."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not (0 < slo < 1) or total < 0 or not 0 <= errors <= total:
        raise ValueError(f"burn_rate({errors}, {total}, {slo}) is impossible")
    return 0.0 if total == 0 else errors / total / (1 - slo)


def _finite_positive(x) -> bool:
    return isinstance(x, numbers.Real) and math.isfinite(x) and x > 0


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
        plan = list(steps)
        if (not plan or plan[-1] != 100 or not all(0 < p <= 100 for p in plan)
                or any(not a < b for a, b in zip(plan, plan[1:]))):
            problems.append("steps")
        problems += [n for n, v in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                                    ("short_window_s", short_window_s), ("burn_threshold", burn_threshold))
                     if not _finite_positive(v)]
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s > long_window_s")
        if type(min_requests) is not int or min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError(f"bad options: {', '.join(problems)}")
        self._move, self._read, self._now = set_canary_percent, error_counts, clock
        self._plan = plan
        self._slo, self._threshold, self._min = slo, burn_threshold, min_requests
        self._windows = (long_window_s, short_window_s)
        self._duration = step_duration_s
        self._state = PENDING
        self._at = None  # index into plan
        self._since = None

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._state in (PENDING, ROLLED_BACK):
            return 0
        return self._plan[self._at]

    def _go(self, index: int, now: float | None = None) -> None:
        self._move(self._plan[index])
        self._at, self._since = index, self._now() if now is None else now
        self._state = PROMOTED if index == len(self._plan) - 1 else RAMPING

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError("already started")
        self._go(0)

    def tick(self) -> str:
        if self._state == PENDING:
            raise RuntimeError("not started")
        if self._state != RAMPING:
            return self._state
        (le, lt), (se, st) = (self._read(w) for w in self._windows)
        now = self._now()
        burning = [burn_rate(e, t, self._slo) > self._threshold for e, t in ((le, lt), (se, st))]
        if all(burning):
            self._move(0)
            self._state = ROLLED_BACK
        elif now - self._since >= self._duration and lt >= self._min:
            self._go(self._at + 1, now)
        return self._state
