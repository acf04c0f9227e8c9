"""Task 3 as an explicit state machine with a dispatch table."""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not (0 < slo < 1):
        raise ValueError("slo must be in (0, 1)")
    if not (0 <= errors <= total):
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1 - slo)


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _positive_finite(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _require(0 < slo < 1, "slo")
        steps = list(steps)
        _require(len(steps) > 0, "steps empty")
        _require(all(0 < s <= 100 for s in steps), "steps in (0, 100]")
        _require(all(a < b for a, b in zip(steps, steps[1:])), "steps increasing")
        _require(steps[-1] == 100, "steps end at 100")
        for v in (step_duration_s, long_window_s, short_window_s, burn_threshold):
            _require(_positive_finite(v), "positive finite")
        _require(short_window_s <= long_window_s, "short <= long")
        _require(isinstance(min_requests, int) and not isinstance(min_requests, bool)
                 and min_requests >= 0, "min_requests")
        self._move = set_canary_percent
        self._read = error_counts
        self._slo, self._steps = slo, steps
        self._dur, self._long, self._short = step_duration_s, long_window_s, short_window_s
        self._thr, self._min = burn_threshold, min_requests
        self._clock = clock
        self._state = PENDING
        self._pos = 0
        self._since = 0.0
        self._pct = 0

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        return self._pct

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError("start() twice")
        began = self._clock()
        self._move(self._steps[0])
        self._pos, self._since, self._pct = 0, began, self._steps[0]
        self._state = PROMOTED if len(self._steps) == 1 else RAMPING

    def tick(self) -> str:
        handler = {PENDING: self._tick_pending, RAMPING: self._tick_ramping}.get(self._state)
        return handler() if handler else self._state

    def _tick_pending(self) -> str:
        raise RuntimeError("tick() before start()")

    def _tick_ramping(self) -> str:
        long_counts = self._read(self._long)
        short_counts = self._read(self._short)
        now = self._clock()
        burning = all(burn_rate(e, t, self._slo) > self._thr for e, t in (long_counts, short_counts))
        if burning:
            self._move(0)
            self._pct, self._state = 0, ROLLED_BACK
            return self._state
        if now - self._since >= self._dur and long_counts[1] >= self._min:
            target = self._steps[self._pos + 1]
            self._move(target)
            self._pos += 1
            self._since, self._pct = now, target
            if self._pos == len(self._steps) - 1:
                self._state = PROMOTED
        return self._state
