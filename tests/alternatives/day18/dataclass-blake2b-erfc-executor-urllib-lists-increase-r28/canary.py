from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if math.isnan(slo) or slo <= 0 or slo >= 1:
        raise ValueError(f"slo must be in (0, 1), got {slo!r}")
    if total < 0 or not 0 <= errors <= total:
        raise ValueError(f"impossible counts: {errors} errors of {total}")
    budget = 1.0 - slo
    return 0.0 if total == 0 else errors / total / budget


def _check_steps(steps: Sequence[float]) -> list[float]:
    steps = list(steps)
    if len(steps) == 0 or steps[-1] != 100:
        raise ValueError("steps must be non-empty and end at 100")
    previous = 0.0
    for step in steps:
        if math.isnan(step) or step <= previous or step > 100:
            raise ValueError(f"steps must increase strictly within (0, 100]: {steps}")
        previous = step
    return steps


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        burn_rate(0, 0, slo)  # validates the slo
        self._plan = _check_steps(steps)
        for value in (step_duration_s, long_window_s, short_window_s, burn_threshold):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"expected a positive finite number, got {value!r}")
        if short_window_s > long_window_s:
            raise ValueError("the short window must not be longer than the long one")
        if not isinstance(min_requests, numbers.Integral) or isinstance(min_requests, bool) or min_requests < 0:
            raise ValueError(f"min_requests must be an int >= 0, got {min_requests!r}")
        self._move = set_canary_percent
        self._read = error_counts
        self._slo = slo
        self._step_s = step_duration_s
        self._windows = (long_window_s, short_window_s)
        self._threshold = burn_threshold
        self._min_requests = min_requests
        self._clock = clock
        self._state = PENDING
        self._position = None
        self._since = None

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._state in (PENDING, ROLLED_BACK):
            return 0
        return self._plan[self._position]

    def _go_to(self, position: int, now: float | None = None) -> None:
        self._move(self._plan[position])  # raises before anything changes
        self._position = position
        self._since = self._clock() if now is None else now
        self._state = PROMOTED if position == len(self._plan) - 1 else RAMPING

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError("start() was already called")
        self._go_to(0)

    def _burning(self, counts: tuple[int, int]) -> bool:
        return burn_rate(counts[0], counts[1], self._slo) > self._threshold

    def tick(self) -> str:
        if self._state == PENDING:
            raise RuntimeError("call start() first")
        if self._state != RAMPING:
            return self._state
        long_counts, short_counts = (self._read(w) for w in self._windows)
        now = self._clock()
        if self._burning(long_counts) and self._burning(short_counts):
            self._move(0)
            self._state = ROLLED_BACK
        elif now - self._since >= self._step_s and long_counts[1] >= self._min_requests:
            self._go_to(self._position + 1, now)
        return self._state
