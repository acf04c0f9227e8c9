"""Task 3: burn rate and a canary controller kept as a small state machine over step indexes."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if math.isnan(slo) or slo <= 0 or slo >= 1:
        raise ValueError(f"slo must be in (0, 1), got {slo}")
    if total < 0:
        raise ValueError("total must be >= 0")
    if not 0 <= errors <= total:
        raise ValueError("errors must be in [0, total]")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        burn_rate(0, 0, slo)  # validates the slo
        plan = list(steps)
        problems = []
        if not plan:
            problems.append("steps is empty")
        elif any(not (0 < s <= 100) for s in plan):
            problems.append("a step is outside (0, 100]")
        elif sorted(set(plan)) != plan:
            problems.append("steps are not strictly increasing")
        elif plan[-1] != 100:
            problems.append("steps do not end at 100")
        for name, value in (("step_duration_s", step_duration_s), ("long_window_s", long_window_s),
                            ("short_window_s", short_window_s), ("burn_threshold", burn_threshold)):
            if not (value > 0 and math.isfinite(value)):
                problems.append(f"{name} must be positive and finite")
        if not problems and short_window_s > long_window_s:
            problems.append("short_window_s is longer than long_window_s")
        if type(min_requests) is bool or not isinstance(min_requests, numbers.Integral) or min_requests < 0:
            problems.append("min_requests must be an int >= 0")
        if problems:
            raise ValueError("; ".join(problems))
        self._move = set_canary_percent
        self._read = error_counts
        self._slo, self._plan = slo, plan
        self._step_s, self._windows = step_duration_s, (long_window_s, short_window_s)
        self._threshold, self._min = burn_threshold, min_requests
        self._clock = clock
        self._index: int | None = None
        self._since = 0.0
        self._final: str | None = None

    @property
    def state(self) -> str:
        if self._final is not None:
            return self._final
        return PENDING if self._index is None else RAMPING

    @property
    def percent(self) -> float:
        if self._index is None or self._final == ROLLED_BACK:
            return 0
        return self._plan[self._index]

    def _enter(self, index: int, now: float | None = None) -> None:
        self._move(self._plan[index])
        self._index, self._since = index, self._clock() if now is None else now
        if index == len(self._plan) - 1:
            self._final = PROMOTED

    def start(self) -> None:
        if self._index is not None:
            raise RuntimeError("start() was already called")
        self._enter(0)

    def tick(self) -> str:
        if self._index is None:
            raise RuntimeError("start() first")
        if self._final is not None:
            return self._final
        (long_e, long_t), (short_e, short_t) = (self._read(w) for w in self._windows)
        burns = [burn_rate(long_e, long_t, self._slo), burn_rate(short_e, short_t, self._slo)]
        if min(burns) > self._threshold:
            self._move(0)
            self._final = ROLLED_BACK
            return self._final
        now = self._clock()
        due = now - self._since >= self._step_s
        if due and long_t >= self._min:
            self._enter(self._index + 1, now)
        return self.state
