"""Canary controller written as an explicit state machine with a dataclass for its settings."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def burn_rate(errors: int, total: int, slo: float) -> float:
    if slo != slo or slo <= 0 or slo >= 1:
        raise ValueError("slo must be in (0, 1)")
    if min(errors, total) < 0 or errors > total:
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


def _is_positive_finite(x) -> bool:
    try:
        return math.isfinite(x) and x > 0
    except TypeError:
        return False


@dataclass(frozen=True)
class _Plan:
    slo: float
    steps: tuple
    step_duration_s: float
    long_window_s: float
    short_window_s: float
    burn_threshold: float
    min_requests: int

    def check(self) -> None:
        problems = []
        if not 0 < self.slo < 1:
            problems.append("slo")
        s = self.steps
        if len(s) == 0 or any(not (0 < x <= 100) for x in s) or s[-1] != 100 or sorted(set(s)) != list(s):
            problems.append("steps")
        for name in ("step_duration_s", "long_window_s", "short_window_s", "burn_threshold"):
            if not _is_positive_finite(getattr(self, name)):
                problems.append(name)
        if not problems and self.short_window_s > self.long_window_s:
            problems.append("short_window_s > long_window_s")
        if type(self.min_requests) is not int or self.min_requests < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError("invalid options: " + ", ".join(problems))


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._plan = _Plan(slo, tuple(steps), step_duration_s, long_window_s, short_window_s,
                           burn_threshold, min_requests)
        self._plan.check()
        self._move = set_canary_percent
        self._read = error_counts
        self._clock = clock
        self._history: list[tuple[float, float]] = []  # (percent, began at) per step taken
        self._final: str | None = None

    @property
    def state(self) -> str:
        if self._final:
            return self._final
        return "ramping" if self._history else "pending"

    @property
    def percent(self) -> float:
        if self._final == "rolled_back" or not self._history:
            return 0
        return self._history[-1][0]

    def _take(self, percent: float, now: float | None = None) -> None:
        self._move(percent)  # raises before anything is recorded
        self._history.append((percent, self._clock() if now is None else now))
        if percent == self._plan.steps[-1]:
            self._final = "promoted"

    def start(self) -> None:
        if self._history or self._final:
            raise RuntimeError("start() was already called")
        self._take(self._plan.steps[0])

    def _burning(self, counts: tuple[int, int]) -> bool:
        return burn_rate(counts[0], counts[1], self._plan.slo) > self._plan.burn_threshold

    def tick(self) -> str:
        if self.state == "pending":
            raise RuntimeError("start() first")
        if self._final:
            return self._final
        plan = self._plan
        long_counts = self._read(plan.long_window_s)
        short_counts = self._read(plan.short_window_s)
        now = self._clock()
        if self._burning(long_counts) and self._burning(short_counts):
            self._move(0)
            self._final = "rolled_back"
        elif long_counts[1] >= plan.min_requests and now - self._history[-1][1] >= plan.step_duration_s:
            self._take(plan.steps[len(self._history)], now)
        return self.state
