from __future__ import annotations
import math, time


def burn_rate(errors, total, slo):
    if math.isnan(slo) or slo <= 0 or slo >= 1:
        raise ValueError("slo")
    if total < 0 or not 0 <= errors <= total:
        raise ValueError("counts")
    return 0.0 if total == 0 else errors / total / (1 - slo)


class CanaryController:
    """State kept as a phase name plus a history of (percent, began_at) moves."""

    def __init__(self, set_canary_percent, error_counts, *, slo=0.999, steps=(5, 25, 50, 100),
                 step_duration_s=600.0, long_window_s=3600.0, short_window_s=300.0,
                 burn_threshold=14.4, min_requests=100, clock=time.monotonic):
        burn_rate(0, 0, slo)  # validates slo
        steps = list(steps)
        if (not steps or any(not (0 < s <= 100) for s in steps)
                or any(b <= a for a, b in zip(steps, steps[1:])) or steps[-1] != 100):
            raise ValueError("steps")
        for v in (step_duration_s, long_window_s, short_window_s, burn_threshold):
            try:
                ok = math.isfinite(v) and v > 0
            except TypeError:
                ok = False
            if not ok:
                raise ValueError("durations/threshold")
        if short_window_s > long_window_s:
            raise ValueError("short > long")
        if type(min_requests) is not int or min_requests < 0:
            raise ValueError("min_requests")
        self._move, self._read = set_canary_percent, error_counts
        self._cfg = dict(slo=slo, long=long_window_s, short=short_window_s,
                         thr=burn_threshold, dur=step_duration_s, minreq=min_requests)
        self._steps = steps
        self._clock = clock
        self._history = []  # (step index, began)
        self._phase = "pending"

    @property
    def state(self):
        return self._phase

    @property
    def percent(self):
        if self._phase in ("pending", "rolled_back"):
            return 0
        return self._steps[self._history[-1][0]]

    def _go(self, idx, now=None):
        self._move(self._steps[idx])
        self._history.append((idx, self._clock() if now is None else now))
        self._phase = "promoted" if idx == len(self._steps) - 1 else "ramping"

    def start(self):
        if self._phase != "pending":
            raise RuntimeError("start() twice")
        self._go(0)

    def tick(self):
        if self._phase == "pending":
            raise RuntimeError("tick() before start()")
        if self._phase in ("promoted", "rolled_back"):
            return self._phase
        c = self._cfg
        long_counts = self._read(c["long"])
        short_counts = self._read(c["short"])
        burning = [burn_rate(e, t, c["slo"]) > c["thr"] for e, t in (long_counts, short_counts)]
        if all(burning):
            self._move(0)
            self._phase = "rolled_back"
        else:
            idx, began = self._history[-1]
            now = self._clock()
            if now - began >= c["dur"] and long_counts[1] >= c["minreq"]:
                self._go(idx + 1, now)
        return self._phase
