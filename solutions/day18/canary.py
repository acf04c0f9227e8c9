"""Task 3: canary analysis on an error budget, and a controller that ramps or rolls back.

Design (README task 3 is the full specification):
- `burn_rate(errors, total, slo)`: (errors / total) / (1 - slo), 0.0 when total is 0.
- `CanaryController(set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
  step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0, burn_threshold=14.4,
  min_requests=100, clock=time.monotonic)`; `start()`, `tick() -> state`, `state`, `percent`.
- Rollback when both windows burn strictly above the threshold (the SRE workbook's
  multiwindow rule); advance one step when the step's time is up and the long window holds
  at least `min_requests` canary requests; reaching the last step (100) is promotion.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors: int, total: int, slo: float) -> float:
    """How many times faster than allowed the error budget burns; 1.0 spends it exactly."""
    if not 0 < slo < 1:
        raise ValueError(f"slo must be within (0, 1), got {slo!r}")
    if total < 0 or not 0 <= errors <= total:
        raise ValueError(f"need 0 <= errors <= total, got errors={errors!r}, total={total!r}")
    if total == 0:
        return 0.0  # no requests spend no budget
    return (errors / total) / (1 - slo)


def _positive(value: float, name: str) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


class CanaryController:
    """Ramps a canary step by step; rolls it back as soon as it burns the budget too fast.

    Nothing here sleeps or reads real time: the caller calls `tick()` (from a loop, a
    scheduler or a test) and the controller reads `clock` and `error_counts`, so every rule
    is checked without waiting for it.
    """

    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < slo < 1:
            raise ValueError(f"slo must be within (0, 1), got {slo!r}")
        steps = list(steps)
        if not steps or steps[-1] != 100:
            raise ValueError(f"steps must end at 100, got {steps!r}")
        if any(not 0 < s <= 100 for s in steps) or any(a >= b for a, b in zip(steps, steps[1:])):
            raise ValueError(f"steps must rise strictly within (0, 100], got {steps!r}")
        for value, name in ((step_duration_s, "step_duration_s"), (long_window_s, "long_window_s"),
                            (short_window_s, "short_window_s"), (burn_threshold, "burn_threshold")):
            _positive(value, name)
        if short_window_s > long_window_s:
            raise ValueError(f"short_window_s ({short_window_s}) must not exceed long_window_s ({long_window_s})")
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
            raise ValueError(f"min_requests must be an int >= 0, got {min_requests!r}")
        self._set = set_canary_percent
        self._counts = error_counts
        self.slo, self.steps = slo, steps
        self.step_duration_s = step_duration_s
        self.long_window_s, self.short_window_s = long_window_s, short_window_s
        self.burn_threshold, self.min_requests = burn_threshold, min_requests
        self._clock = clock
        self.state = PENDING
        self.percent: float = 0
        self._step = -1
        self._step_started = 0.0

    def start(self) -> None:
        """Send the first step's share of traffic to the canary."""
        if self.state != PENDING:
            raise RuntimeError(f"start() called twice (state is {self.state!r})")
        self._move_to(0, self._clock())

    def _move_to(self, step: int, began: float) -> None:
        """`began` is the reading that decided the move: a slow move must not stretch the step."""
        self._set(self.steps[step])
        self._step, self.percent = step, self.steps[step]
        self._step_started = began
        self.state = PROMOTED if step == len(self.steps) - 1 else RAMPING

    def tick(self) -> str:
        """Look at the canary once: roll back, advance one step, or hold. Returns the state."""
        if self.state == PENDING:
            raise RuntimeError("tick() before start()")
        if self.state != RAMPING:
            return self.state
        # Read both windows before acting: a failing metric source raises here, and the
        # controller then neither advances nor rolls back on data it does not have.
        long_errors, long_total = self._counts(self.long_window_s)
        short_errors, short_total = self._counts(self.short_window_s)
        long_burn = burn_rate(long_errors, long_total, self.slo)
        short_burn = burn_rate(short_errors, short_total, self.slo)
        if long_burn > self.burn_threshold and short_burn > self.burn_threshold:
            self._set(0)
            self.percent, self.state = 0, ROLLED_BACK
        elif ((now := self._clock()) - self._step_started >= self.step_duration_s
              and long_total >= self.min_requests):
            self._move_to(self._step + 1, now)
        return self.state
