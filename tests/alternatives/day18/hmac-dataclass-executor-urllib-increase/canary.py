"""A table-driven controller: a list of pending moves, each applied only once the traffic moved."""
from __future__ import annotations

import math
import time
from numbers import Real

PENDING, RAMPING, PROMOTED, ROLLED_BACK = "pending", "ramping", "promoted", "rolled_back"


def burn_rate(errors, total, slo):
    if not (0.0 < slo < 1.0):
        raise ValueError("slo must be in (0, 1)")
    if not (0 <= errors <= total):
        raise ValueError("need 0 <= errors <= total")
    return errors / total / (1.0 - slo) if total else 0.0


class CanaryController:
    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic):
        burn_rate(0, 0, slo)  # validates slo
        plan = list(steps)
        ok = bool(plan) and all(isinstance(p, Real) and 0 < p <= 100 for p in plan)
        ok = ok and all(a < b for a, b in zip(plan, plan[1:])) and plan[-1] == 100
        if not ok:
            raise ValueError(f"bad steps {steps!r}")
        numbers = dict(step_duration_s=step_duration_s, long_window_s=long_window_s,
                       short_window_s=short_window_s, burn_threshold=burn_threshold)
        for name, value in numbers.items():
            if not (isinstance(value, Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite")
        if short_window_s > long_window_s:
            raise ValueError("short_window_s > long_window_s")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests must be an int >= 0")
        self._move = set_canary_percent
        self._read = error_counts
        self._cfg = dict(numbers, slo=slo, min_requests=min_requests)
        self._remaining = plan
        self._clock = clock
        self._since = 0.0
        self.state = PENDING
        self.percent = 0

    def _advance(self, now=None):
        nxt = self._remaining[0]
        self._move(nxt)
        self._remaining = self._remaining[1:]
        self.percent = nxt
        self._since = self._clock() if now is None else now
        self.state = RAMPING if self._remaining else PROMOTED

    def start(self):
        if self.state is not PENDING:
            raise RuntimeError("start() was already called")
        self._advance()

    def tick(self):
        if self.state is PENDING:
            raise RuntimeError("call start() first")
        if self.state is not RAMPING:
            return self.state
        c = self._cfg
        long_counts = self._read(c["long_window_s"])
        short_counts = self._read(c["short_window_s"])
        burning = [burn_rate(e, t, c["slo"]) > c["burn_threshold"] for e, t in (long_counts, short_counts)]
        if all(burning):
            self._move(0)
            self.percent, self.state = 0, ROLLED_BACK
            return self.state
        now = self._clock()
        due = now - self._since >= c["step_duration_s"]
        if due and long_counts[1] >= c["min_requests"]:
            self._advance(now)
        return self.state
