from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    """One model call on a thread of its own."""

    def __init__(self, fn, arg, done_cb):
        self.result = None
        self.ok = False
        self.done = threading.Event()
        self._fn, self._arg, self._done_cb = fn, arg, done_cb
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.result = self._fn(self._arg)
            self.ok = True
        except BaseException:
            self.ok = False
        finally:
            self.done.set()
            self._done_cb(self)


class FraudScorer:
    def __init__(self, model, store, *, budget_s=0.05, threshold=0.5, velocity_count=5,
                 testing_merchants=3, small_amount=5.0, large_amount=1000.0):
        def bad(x):
            return isinstance(x, bool) or not isinstance(x, Real) or math.isnan(x)
        if bad(budget_s) or budget_s <= 0 or math.isinf(budget_s):
            raise ValueError("budget_s")
        if bad(threshold) or not 0 <= threshold <= 1:
            raise ValueError("threshold")
        if bad(velocity_count) or velocity_count < 1:
            raise ValueError("velocity_count")
        if bad(testing_merchants) or testing_merchants < 1:
            raise ValueError("testing_merchants")
        if bad(small_amount) or small_amount < 0:
            raise ValueError("small_amount")
        if bad(large_amount) or large_amount <= 0:
            raise ValueError("large_amount")
        self.model, self.store = model, store
        self.budget_s = budget_s
        self.threshold = threshold
        self.velocity_count = velocity_count
        self.testing_merchants = testing_merchants
        self.small_amount = small_amount
        self.large_amount = large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._running: set[_Call] = set()
        self._lock = threading.Lock()

    def _finished(self, call):
        with self._lock:
            self._running.discard(call)

    def _ask_model(self, row):
        call = _Call(self.model.predict_proba, row, self._finished)
        with self._lock:
            self._running.add(call)
        call.thread.start()
        if not call.done.wait(self.budget_s) or not call.ok:
            return None
        try:
            p = call.result[0][1]
        except Exception:
            return None
        if isinstance(p, bool) or not isinstance(p, Real):
            return None
        p = float(p)
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event):
        if "card_id" not in event:
            raise KeyError("card_id")
        if "amount" not in event:
            raise KeyError("amount")
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if isinstance(amount, bool) or not isinstance(amount, Real) or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")
        try:
            stored = self.store.read(card_id)
            available = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, available = None, False
        if stored is None:
            f = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        else:
            f = stored
        reasons = frozenset(
            name for name, fired in (
                ("velocity", f["count"] >= self.velocity_count),
                ("card_testing", f["distinct_merchants"] >= self.testing_merchants
                 and f["max_amount"] <= self.small_amount),
                ("large_amount", amount >= self.large_amount),
            ) if fired
        )
        rule_score = 1.0 if reasons else 0.0
        prob = None
        if available:
            prob = self._ask_model([[amount, f["count"], f["total_amount"], f["max_amount"],
                                     f["distinct_merchants"]]])
            if prob is None:
                self.model_fallbacks += 1
        if prob is None:
            score, source = rule_score, "rules"
        else:
            score, source = max(rule_score, prob), "model"
        return Decision(float(score), bool(score >= self.threshold), source, reasons)

    def close(self):
        while True:
            with self._lock:
                calls = list(self._running)
            if not calls:
                return
            for c in calls:
                c.thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
