from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from feature_store import StoreUnavailable  # noqa: F401


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    """One model call on a thread of its own."""

    def __init__(self, fn, arg, done_cb):
        self.done = threading.Event()
        self.answer = None
        self.failed = False
        self._fn, self._arg, self._cb = fn, arg, done_cb
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.answer = self._fn(self._arg)
        except BaseException:
            self.failed = True
        finally:
            self.done.set()
            self._cb(self)


def _check(v, name, ok):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number")
    if v != v or not ok(v):
        raise ValueError(f"{name} out of range: {v!r}")
    return v


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        self.budget_s = float(_check(budget_s, "budget_s", lambda v: 0 < v < math.inf))
        self.threshold = _check(threshold, "threshold", lambda v: 0 <= v <= 1)
        self.velocity_count = _check(velocity_count, "velocity_count", lambda v: v >= 1)
        self.testing_merchants = _check(testing_merchants, "testing_merchants", lambda v: v >= 1)
        self.small_amount = _check(small_amount, "small_amount", lambda v: v >= 0)
        self.large_amount = _check(large_amount, "large_amount", lambda v: v > 0)
        self.model, self.store = model, store
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._running: set[_Call] = set()
        self._lock = threading.Lock()

    def _finished(self, call):
        with self._lock:
            self._running.discard(call)

    def _ask(self, row):
        call = _Call(self.model.predict_proba, row, self._finished)
        with self._lock:
            self._running.add(call)
        call.thread.start()
        if not call.done.wait(self.budget_s) or call.failed:
            return None
        try:
            p = call.answer[0][1]
        except Exception:
            return None
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
            return None
        p = float(p)
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, (int, float, np.integer, np.floating)) \
                or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")
        try:
            stored = self.store.read(card_id)
            available = True
        except StoreUnavailable:
            stored, available = None, False
            self.store_fallbacks += 1
        if stored is None:
            window = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        else:
            window = {k: stored[k] for k in ("count", "total_amount", "max_amount", "distinct_merchants")}
        fired = []
        if window["count"] >= self.velocity_count:
            fired.append("velocity")
        if window["distinct_merchants"] >= self.testing_merchants and window["max_amount"] <= self.small_amount:
            fired.append("card_testing")
        if amount >= self.large_amount:
            fired.append("large_amount")
        rule_score = 1.0 if fired else 0.0
        probability = None
        if available:
            row = [[amount, window["count"], window["total_amount"], window["max_amount"],
                    window["distinct_merchants"]]]
            probability = self._ask(row)
            if probability is None:
                self.model_fallbacks += 1
        if probability is None:
            final, source = rule_score, "rules"
        else:
            final, source = max(rule_score, probability), "model"
        return Decision(float(final), bool(final >= self.threshold), source, frozenset(fired))

    def close(self) -> None:
        while True:
            with self._lock:
                calls = list(self._running)
            if not calls:
                return
            for call in calls:
                call.thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
