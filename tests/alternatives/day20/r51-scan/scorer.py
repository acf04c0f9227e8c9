"""Task 3: rules and a model under a latency budget (one thread per model call)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

import numpy as np

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _check(value, name, ok):
    if not isinstance(value, Real):
        raise ValueError(f"{name} must be a number")
    x = float(value)   # OverflowError for a huge int: the README allows it
    if math.isnan(x) or not ok(x):
        raise ValueError(f"{name} out of range: {value!r}")
    return value


class _Call:
    """One model call on a thread of its own."""

    def __init__(self, fn, arg):
        self.done = threading.Event()
        self.answer = None
        self.failed = False
        self.thread = threading.Thread(target=self._run, args=(fn, arg), daemon=True,
                                       name="fraud-model-call")

    def _run(self, fn, arg):
        try:
            self.answer = fn(arg)
        except BaseException:
            self.failed = True
        finally:
            self.done.set()


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        self.budget_s = float(_check(budget_s, "budget_s", lambda x: 0 < x < math.inf))
        self.threshold = _check(threshold, "threshold", lambda x: 0 <= x <= 1)
        self.velocity_count = _check(velocity_count, "velocity_count", lambda x: x >= 1)
        self.testing_merchants = _check(testing_merchants, "testing_merchants", lambda x: x >= 1)
        self.small_amount = _check(small_amount, "small_amount", lambda x: x >= 0)
        self.large_amount = _check(large_amount, "large_amount", lambda x: x > 0)
        self.model = model
        self.store = store
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._lock = threading.Lock()
        self._running: list[threading.Thread] = []

    def _window(self, card_id, amount):
        """(features, store_ok)"""
        try:
            stored = self.store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            return (1, amount, amount, 1), False
        if stored is None:
            return (1, amount, amount, 1), True
        return (stored["count"], stored["total_amount"], stored["max_amount"],
                stored["distinct_merchants"]), True

    def _probability(self, row):
        call = _Call(self.model.predict_proba, row)
        with self._lock:
            self._running = [t for t in self._running if t.is_alive()]
            self._running.append(call.thread)
        call.thread.start()
        if not call.done.wait(self.budget_s) or call.failed:
            return None
        try:
            p = call.answer[0][1]
        except Exception:
            return None
        if isinstance(p, bool) or not isinstance(p, Real):
            return None
        p = float(p)
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(amount, Real):
            raise ValueError("amount must be a number")
        try:
            finite = math.isfinite(amount)
        except OverflowError:
            finite = False
        if not finite:
            raise ValueError("amount must be finite")

        (count, total, biggest, distinct), store_ok = self._window(card_id, amount)
        reasons = frozenset(name for name, fired in (
            ("velocity", count >= self.velocity_count),
            ("card_testing", distinct >= self.testing_merchants and biggest <= self.small_amount),
            ("large_amount", amount >= self.large_amount),
        ) if fired)
        rule = 1.0 if reasons else 0.0

        p = None
        if store_ok:
            row = np.array([[amount, count, total, biggest, distinct]], dtype=np.float64)
            p = self._probability(row)
            if p is None:
                self.model_fallbacks += 1
        if p is None:
            return Decision(rule, bool(rule >= self.threshold), "rules", reasons)
        s = max(rule, p)
        return Decision(s, bool(s >= self.threshold), "model", reasons)

    def close(self) -> None:
        while True:
            with self._lock:
                alive = [t for t in self._running if t.is_alive()]
                self._running = alive
            if not alive:
                return
            for t in alive:
                t.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
