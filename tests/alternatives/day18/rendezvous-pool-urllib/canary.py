"""A table of steps and an explicit list of decisions."""

import math
import time


def burn_rate(errors, total, slo):
    if math.isnan(slo) or slo <= 0 or slo >= 1:
        raise ValueError("slo must be in (0, 1)")
    if total < 0 or errors < 0 or errors > total:
        raise ValueError("counts must satisfy 0 <= errors <= total")
    return 0.0 if total == 0 else errors / total / (1.0 - slo)


class CanaryController:
    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic):
        burn_rate(0, 0, slo)  # validates slo
        plan = tuple(steps)
        ok = bool(plan) and plan[-1] == 100 and all(0 < p <= 100 for p in plan) and list(plan) == sorted(set(plan))
        if not ok:
            raise ValueError(f"bad steps {steps}")
        for name, value in dict(step_duration_s=step_duration_s, long_window_s=long_window_s,
                                short_window_s=short_window_s, burn_threshold=burn_threshold).items():
            if not (0 < value < math.inf):
                raise ValueError(f"{name} must be positive and finite")
        if short_window_s > long_window_s:
            raise ValueError("short window longer than long window")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests must be a non-negative int")
        self._apply, self._metrics, self._now = set_canary_percent, error_counts, clock
        self._plan, self._slo, self._hold = plan, slo, step_duration_s
        self._windows = (long_window_s, short_window_s)
        self._threshold, self._min = burn_threshold, min_requests
        self._position = None
        self._since = None
        self.state = "pending"

    @property
    def percent(self):
        if self.state in ("pending", "rolled_back"):
            return 0
        return self._plan[self._position]

    def _go(self, position, now=None):
        self._apply(self._plan[position])
        self._position, self._since = position, self._now() if now is None else now
        self.state = "promoted" if position + 1 == len(self._plan) else "ramping"

    def start(self):
        if self.state != "pending":
            raise RuntimeError("already started")
        self._go(0)

    def tick(self):
        if self.state == "pending":
            raise RuntimeError("start() first")
        if self.state in ("promoted", "rolled_back"):
            return self.state
        readings = [self._metrics(w) for w in self._windows]
        now = self._now()
        burns = [burn_rate(e, t, self._slo) for e, t in readings]
        if min(burns) > self._threshold:
            self._apply(0)
            self.state = "rolled_back"
        elif now >= self._since + self._hold and readings[0][1] >= self._min:
            self._go(self._position + 1, now)
        return self.state
