"""Task 3: canary analysis on an error budget, and a controller that ramps or rolls back.

README task 3 is the full specification. In short:
- `burn_rate(errors, total, slo)`: (errors / total) / (1 - slo); 0.0 when total is 0.
- `CanaryController(set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
  step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0, burn_threshold=14.4,
  min_requests=100, clock=time.monotonic)`; `start()`, `tick() -> state`, `state`, `percent`.
- `error_counts(window_s) -> (errors, total)` is the canary's traffic over the last window_s.
- Each tick: both windows burning strictly above the threshold -> roll back (0 %); else,
  when the step's time is up and the long window holds at least `min_requests` requests,
  advance one step; reaching the last step (100) is promotion.
- When `error_counts` or `set_canary_percent` raises, the exception comes out and nothing changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


def burn_rate(errors: int, total: int, slo: float) -> float:
    """How many times faster than allowed the error budget burns; 1.0 spends it exactly."""
    # TODO(task 3): validate, then error rate / (1 - slo); no requests burn nothing.
    raise NotImplementedError("task 3")


class CanaryController:
    def __init__(self, set_canary_percent: Callable[[float], None],
                 error_counts: Callable[[float], tuple[int, int]], *, slo: float = 0.999,
                 steps: Sequence[float] = (5, 25, 50, 100), step_duration_s: float = 600.0,
                 long_window_s: float = 3600.0, short_window_s: float = 300.0,
                 burn_threshold: float = 14.4, min_requests: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # TODO(task 3): validate every option (README), store them; state "pending", percent 0.
        raise NotImplementedError("task 3")

    def start(self) -> None:
        """Send the first step's share of traffic to the canary."""
        # TODO(task 3): set_canary_percent(steps[0]); a second start() is a RuntimeError.
        raise NotImplementedError("task 3")

    def tick(self) -> str:
        """Look at the canary once: roll back, advance one step, or hold. Returns the state."""
        # TODO(task 3): read both windows, roll back on a double burn, else maybe advance.
        raise NotImplementedError("task 3")
