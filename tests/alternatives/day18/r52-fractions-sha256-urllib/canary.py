"""Task 3: error budget burn and a ramping canary controller."""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def _check_slo(slo) -> None:
    if not (slo > 0 and slo < 1):
        raise ValueError(f"slo {slo!r} outside (0, 1)")


def burn_rate(errors: int, total: int, slo: float) -> float:
    _check_slo(slo)
    if errors < 0 or total < 0:
        raise ValueError("negative counts")
    if errors > total:
        raise ValueError("more errors than requests")
    return 0.0 if total == 0 else errors / total / (1 - slo)


def _positive_finite(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite")
    return value


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _check_slo(slo)
        ramp = list(steps)
        if not ramp:
            raise ValueError("no steps")
        if any(not (0 < s <= 100) for s in ramp):
            raise ValueError("a step is outside (0, 100]")
        if any(b <= a for a, b in zip(ramp, ramp[1:])):
            raise ValueError("steps must increase strictly")
        if ramp[-1] != 100:
            raise ValueError("the last step must be 100")
        self._step_duration = _positive_finite(step_duration_s, "step_duration_s")
        self._long = _positive_finite(long_window_s, "long_window_s")
        self._short = _positive_finite(short_window_s, "short_window_s")
        self._threshold = _positive_finite(burn_threshold, "burn_threshold")
        if self._short > self._long:
            raise ValueError("short window longer than the long window")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._min_requests = min_requests
        self._slo = slo
        self._ramp = ramp
        self._move = set_canary_percent
        self._counts = error_counts
        self._clock = clock
        self._state = PENDING
        self._stage = None  # index into the ramp
        self._stage_started = 0.0

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._stage is None or self._state == ROLLED_BACK:
            return 0
        return self._ramp[self._stage]

    def _enter(self, stage: int, when: float) -> None:
        self._stage, self._stage_started = stage, when
        self._state = PROMOTED if stage == len(self._ramp) - 1 else RAMPING

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError("start() called twice")
        began = self._clock()
        self._move(self._ramp[0])
        self._enter(0, began)

    def _burning(self, counts) -> bool:
        errors, total = counts
        return burn_rate(errors, total, self._slo) > self._threshold

    def tick(self) -> str:
        if self._state == PENDING:
            raise RuntimeError("tick() before start()")
        if self._state in (PROMOTED, ROLLED_BACK):
            return self._state
        long_counts = self._counts(self._long)
        short_counts = self._counts(self._short)
        now = self._clock()
        if self._burning(long_counts) and self._burning(short_counts):
            self._move(0)
            self._state = ROLLED_BACK
            return self._state
        if now - self._stage_started < self._step_duration:
            return self._state
        if long_counts[1] < self._min_requests:
            return self._state
        self._move(self._ramp[self._stage + 1])
        self._enter(self._stage + 1, now)
        return self._state
