"""Style: the ramp as an iterator position plus a 'pending move' applied only after the traffic call."""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if slo != slo or slo <= 0 or slo >= 1:
        raise ValueError("slo must be in (0, 1)")
    if min(errors, total) < 0 or errors > total:
        raise ValueError("bad counts")
    return 0.0 if total == 0 else errors / total / (1 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        burn_rate(0, 0, slo)  # validates slo
        steps = list(steps)
        ok = bool(steps) and all(0 < s <= 100 for s in steps) and steps[-1] == 100 \
            and all(b > a for a, b in zip(steps, steps[1:]))
        if not ok:
            raise ValueError(f"bad steps {steps}")
        for value in (step_duration_s, long_window_s, short_window_s, burn_threshold):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"not a positive finite number: {value}")
        if short_window_s > long_window_s:
            raise ValueError("short window must not exceed the long one")
        if type(min_requests) is bool or not isinstance(min_requests, numbers.Integral) or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._move, self._counts, self._clock = set_canary_percent, error_counts, clock
        self._slo, self._steps, self._duration = slo, steps, step_duration_s
        self._windows = (long_window_s, short_window_s)
        self._threshold, self._min = burn_threshold, min_requests
        self._state, self._index, self._since = PENDING, None, None

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._index is None or self._state == ROLLED_BACK:
            return 0
        return self._steps[self._index]

    def _go(self, index: int, now: float | None = None) -> None:
        self._move(self._steps[index])
        self._index, self._since = index, self._clock() if now is None else now
        self._state = PROMOTED if index + 1 == len(self._steps) else RAMPING

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError("start() once")
        self._go(0)

    def tick(self) -> str:
        if self._state == PENDING:
            raise RuntimeError("start() first")
        if self._state != RAMPING:
            return self._state
        (le, lt), (se, st) = (self._counts(w) for w in self._windows)
        burning = [burn_rate(e, t, self._slo) > self._threshold for e, t in ((le, lt), (se, st))]
        if all(burning):
            self._move(0)
            self._state = ROLLED_BACK
            return self._state
        now = self._clock()
        if lt >= self._min and now - self._since >= self._duration:
            self._go(self._index + 1, now)
        return self._state
