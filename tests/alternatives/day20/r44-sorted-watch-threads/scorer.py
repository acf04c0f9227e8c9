"""Task 3: rules + model, one thread per model call."""
from __future__ import annotations

import math
import threading
import weakref
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


_NO = object()


class _Call:
    """One model call on its own thread; its answer lives only here."""

    def __init__(self, model, row, live, lock):
        self.done = threading.Event()
        self.answer = _NO
        self._model, self._row, self._live, self._lock = model, row, live, lock
        self.thread = threading.Thread(target=self._run, daemon=True, name="fraud-model-call")
        with lock:
            live.add(self.thread)  # a WeakSet: a thread that has ended and is unreferenced drops out
        self.thread.start()

    def _run(self):
        try:
            self.answer = self._model.predict_proba(self._row)
        except BaseException:
            self.answer = _NO
        finally:
            self._model = self._row = None
            self.done.set()


def _probability(answer):
    try:
        raw = answer[0][1]
    except Exception:
        return None
    if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, float, np.integer, np.floating)):
        return None
    p = float(raw)
    return p if 0.0 <= p <= 1.0 else None


class FraudScorer:
    def __init__(self, model, store, *, budget_s=0.05, threshold=0.5, velocity_count=5,
                 testing_merchants=3, small_amount=5.0, large_amount=1000.0):
        checks = {
            "budget_s": (budget_s, lambda v: 0 < v < math.inf),
            "threshold": (threshold, lambda v: 0 <= v <= 1),
            "velocity_count": (velocity_count, lambda v: v >= 1),
            "testing_merchants": (testing_merchants, lambda v: v >= 1),
            "small_amount": (small_amount, lambda v: v >= 0),
            "large_amount": (large_amount, lambda v: v > 0),
        }
        for name, (value, ok) in checks.items():
            if value != value or not ok(value):
                raise ValueError(f"{name} out of range: {value!r}")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._lock = threading.Lock()
        self._live: weakref.WeakSet = weakref.WeakSet()

    def _window(self, card_id, amount):
        try:
            got = self.store.read(card_id)
        except StoreUnavailable:
            with self._lock:
                self.store_fallbacks += 1
            return (1, amount, amount, 1), False
        if got is None:
            return (1, amount, amount, 1), True
        return (got["count"], got["total_amount"], got["max_amount"], got["distinct_merchants"]), True

    def _rules(self, amount, count, total, biggest, distinct):
        fired = []
        if count >= self.velocity_count:
            fired.append("velocity")
        if distinct >= self.testing_merchants and biggest <= self.small_amount:
            fired.append("card_testing")
        if amount >= self.large_amount:
            fired.append("large_amount")
        return frozenset(fired)

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            finite = math.isfinite(amount)
        except TypeError as e:
            raise ValueError("amount must be a number") from e
        if not finite:
            raise ValueError("amount must be finite")
        (count, total, biggest, distinct), store_ok = self._window(card_id, amount)
        reasons = self._rules(amount, count, total, biggest, distinct)
        rule = 1.0 if reasons else 0.0
        p = None
        if store_ok:
            call = _Call(self.model, [[amount, count, total, biggest, distinct]], self._live, self._lock)
            if call.done.wait(self.budget_s):
                p = _probability(call.answer)
            if p is None:
                with self._lock:
                    self.model_fallbacks += 1
        score = rule if p is None else max(rule, p)
        return Decision(float(score), bool(score >= self.threshold), "model" if p is not None else "rules", reasons)

    def close(self):
        with self._lock:
            threads = list(self._live)
        for t in threads:
            t.join()
        with self._lock:
            self._live.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
