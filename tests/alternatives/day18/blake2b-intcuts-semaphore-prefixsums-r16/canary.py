"""Task 3: burn rate and a canary controller written as a small state machine over a step list."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def _slo_ok(slo: float) -> bool:
    return 0.0 < slo < 1.0


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not _slo_ok(slo) or not 0 <= errors <= total:
        raise ValueError(f"bad burn-rate input: errors={errors}, total={total}, slo={slo}")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        problems = []
        if not _slo_ok(slo):
            problems.append("slo")
        plan = list(steps)
        if (not plan or plan[-1] != 100 or not all(0 < s <= 100 for s in plan)
                or not all(a < b for a, b in zip(plan, plan[1:]))):
            problems.append("steps")
        for name, value in dict(step_duration_s=step_duration_s, long_window_s=long_window_s,
                                short_window_s=short_window_s, burn_threshold=burn_threshold).items():
            if not (math.isfinite(value) and value > 0):
                problems.append(name)
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s > long_window_s")
        if type(min_requests) is not int or min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError(f"invalid options: {', '.join(problems)}")
        self._move = set_canary_percent
        self._read = error_counts
        self._slo, self._plan = slo, plan
        self._step_s, self._windows = step_duration_s, (long_window_s, short_window_s)
        self._threshold, self._min_requests, self._clock = burn_threshold, min_requests, clock
        self._state = PENDING
        self._done_steps = 0  # how many steps have been taken
        self._step_since: float | None = None

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._state in (PENDING, ROLLED_BACK):
            return 0
        return self._plan[self._done_steps - 1]

    def _take_next_step(self, now: float | None = None) -> None:
        target = self._plan[self._done_steps]
        self._move(target)  # raises -> nothing below happens
        self._done_steps += 1
        self._step_since = self._clock() if now is None else now
        self._state = PROMOTED if self._done_steps == len(self._plan) else RAMPING

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError(f"already started ({self._state})")
        self._take_next_step()

    def tick(self) -> str:
        if self._state == PENDING:
            raise RuntimeError("start() first")
        if self._state != RAMPING:
            return self._state
        (long_bad, long_all), (short_bad, short_all) = (self._read(w) for w in self._windows)
        burning = all(burn_rate(bad, n, self._slo) > self._threshold
                      for bad, n in ((long_bad, long_all), (short_bad, short_all)))
        if burning:
            self._move(0)
            self._state = ROLLED_BACK
            return self._state
        now = self._clock()
        baked = now - self._step_since >= self._step_s
        if baked and long_all >= self._min_requests:
            self._take_next_step(now)
        return self._state
