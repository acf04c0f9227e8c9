"""Burn rate and a canary controller written as a small state machine with pure decisions."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    if not (0.0 < slo < 1.0):
        raise ValueError("slo must be in (0, 1)")
    if not (0 <= errors <= total):
        raise ValueError("need 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


@dataclass(frozen=True)
class _Config:
    slo: float
    steps: tuple
    step_duration_s: float
    long_window_s: float
    short_window_s: float
    burn_threshold: float
    min_requests: int

    def validate(self):
        problems = []
        if not (0 < self.slo < 1):
            problems.append("slo")
        if not self.steps or self.steps[-1] != 100:
            problems.append("steps must end at 100")
        if any(not (0 < s <= 100) for s in self.steps):
            problems.append("steps in (0, 100]")
        if any(not (a < b) for a, b in zip(self.steps, self.steps[1:])):
            problems.append("steps increasing")
        for name in ("step_duration_s", "long_window_s", "short_window_s", "burn_threshold"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                problems.append(name)
        if not problems and self.short_window_s > self.long_window_s:
            problems.append("short window longer than long window")
        m = self.min_requests
        if type(m) is bool or not isinstance(m, numbers.Integral) or m < 0:
            problems.append("min_requests")
        if problems:
            raise ValueError("bad canary options: " + ", ".join(problems))


def _decide(cfg: _Config, long_counts, short_counts, elapsed: float) -> str:
    """'rollback', 'advance' or 'hold' from one look at the windows."""
    if (burn_rate(*long_counts, cfg.slo) > cfg.burn_threshold
            and burn_rate(*short_counts, cfg.slo) > cfg.burn_threshold):
        return "rollback"
    if elapsed >= cfg.step_duration_s and long_counts[1] >= cfg.min_requests:
        return "advance"
    return "hold"


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cfg = _Config(slo, tuple(steps), step_duration_s, long_window_s, short_window_s,
                            burn_threshold, min_requests)
        self._cfg.validate()
        self._move = set_canary_percent
        self._read = error_counts
        self._now = clock
        self._step = None
        self._since = 0.0
        self._state = PENDING

    @property
    def state(self) -> str:
        return self._state

    @property
    def percent(self) -> float:
        if self._state in (PENDING, ROLLED_BACK):
            return 0
        return self._cfg.steps[self._step]

    def _enter_step(self, step: int, now: float | None = None) -> None:
        self._move(self._cfg.steps[step])  # raises before anything changes
        self._step, self._since = step, self._now() if now is None else now
        self._state = PROMOTED if step == len(self._cfg.steps) - 1 else RAMPING

    def start(self) -> None:
        if self._state != PENDING:
            raise RuntimeError("already started")
        self._enter_step(0)

    def tick(self) -> str:
        if self._state == PENDING:
            raise RuntimeError("start() first")
        if self._state in (PROMOTED, ROLLED_BACK):
            return self._state
        long_counts = self._read(self._cfg.long_window_s)
        short_counts = self._read(self._cfg.short_window_s)
        now = self._now()
        action = _decide(self._cfg, long_counts, short_counts, now - self._since)
        if action == "rollback":
            self._move(0)
            self._state = ROLLED_BACK
        elif action == "advance":
            self._enter_step(self._step + 1, now)
        return self._state
